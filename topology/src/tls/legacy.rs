//! Does a server still accept TLS 1.0 or 1.1? rustls cannot speak either,
//! so this sends one hand-built ClientHello offering only the old version
//! and the CBC suites such servers used, reads the first record of the
//! answer and hangs up: a ServerHello for that version means the server
//! would negotiate it; an alert or a closed connection means it refuses.
//! Nothing after the ServerHello is read and no key exchange happens.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A protocol older than TLS 1.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Legacy {
    /// TLS 1.0 (RFC 2246), deprecated by RFC 8996.
    Tls10,
    /// TLS 1.1 (RFC 4346), deprecated by RFC 8996.
    Tls11,
}

impl Legacy {
    /// Wire version.
    fn wire(self) -> [u8; 2] {
        match self {
            Legacy::Tls10 => [3, 1],
            Legacy::Tls11 => [3, 2],
        }
    }

    /// `TLSv1` / `TLSv1.1`, as redis.conf's `tls-protocols` spells them.
    pub fn name(self) -> &'static str {
        match self {
            Legacy::Tls10 => "TLSv1",
            Legacy::Tls11 => "TLSv1.1",
        }
    }
}

/// What the server did with the old ClientHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// It answered with a ServerHello for the offered version.
    Accepted,
    /// It sent an alert (its description code), a ServerHello for another
    /// version, or closed the connection.
    Refused(String),
}

/// The ClientHello: the old version only, CBC suites with ECDHE and RSA key
/// exchange, the curves and point formats those need, SNI for names.
pub fn client_hello(version: Legacy, host: &str, random: [u8; 32]) -> Vec<u8> {
    let mut ext = Vec::new();
    if host.parse::<std::net::IpAddr>().is_err() && !host.is_empty() && host.len() < 250 {
        let name = host.as_bytes();
        let list_len = name.len() + 3;
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(list_len as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        ext.extend_from_slice(name);
    }
    // supported_groups: secp256r1, secp384r1, x25519.
    ext.extend_from_slice(&[0x00, 0x0a, 0, 8, 0, 6, 0x00, 0x17, 0x00, 0x18, 0x00, 0x1d]);
    // ec_point_formats: uncompressed.
    ext.extend_from_slice(&[0x00, 0x0b, 0, 2, 1, 0]);
    // renegotiation_info, empty (RFC 5746), which servers expect.
    ext.extend_from_slice(&[0xff, 0x01, 0, 1, 0]);

    let suites: [u16; 8] = [
        0xc013, 0xc014, 0xc009, 0xc00a, 0x002f, 0x0035, 0x0033, 0x000a,
    ];
    let mut body = Vec::new();
    body.extend_from_slice(&version.wire());
    body.extend_from_slice(&random);
    body.push(0); // no session id
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);

    let mut handshake = vec![1u8];
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);

    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// Judges the first bytes of the server's answer.
pub fn judge(version: Legacy, first: &[u8]) -> Answer {
    match first {
        // Handshake record holding a ServerHello: its version decides.
        [0x16, _, _, _, _, 2, _, _, _, major, minor, ..] => {
            if [*major, *minor] == version.wire() {
                Answer::Accepted
            } else {
                Answer::Refused(format!("ServerHello for version {major}.{minor}"))
            }
        }
        [0x15, _, _, _, _, _level, description, ..] => {
            Answer::Refused(format!("alert {description}"))
        }
        [] => Answer::Refused("connection closed".into()),
        other => Answer::Refused(format!(
            "unexpected first bytes {:02x?}",
            &other[..other.len().min(8)]
        )),
    }
}

/// Offers `version` to `host:port` and says whether the server takes it;
/// `Err` when nothing could be asked (no connection, no answer in time).
pub async fn probe(
    host: &str,
    port: u16,
    version: Legacy,
    bound: Duration,
) -> Result<Answer, std::io::Error> {
    let ask = async {
        let mut tcp = TcpStream::connect((host, port)).await?;
        tcp.write_all(&client_hello(version, host, rand::random()))
            .await?;
        let mut buf = [0u8; 16];
        let mut got = 0;
        // Enough for a record header plus the ServerHello's version.
        while got < 11 {
            match tcp.read(&mut buf[got..]).await {
                Ok(0) => break,
                Ok(n) => got += n,
                // A reset after an alert is a refusal too.
                Err(_) if got > 0 => break,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => return Err(e),
            }
            if buf[0] == 0x15 && got >= 7 {
                break;
            }
        }
        Ok(judge(version, &buf[..got]))
    };
    tokio::time::timeout(bound, ask).await.unwrap_or_else(|_| {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_is_one_well_formed_record() {
        let r = client_hello(Legacy::Tls11, "cache.example", [7; 32]);
        assert_eq!(&r[..3], &[0x16, 3, 1]);
        let len = usize::from(u16::from_be_bytes([r[3], r[4]]));
        assert_eq!(r.len(), 5 + len);
        assert_eq!(r[5], 1, "ClientHello");
        let hs_len = u32::from_be_bytes([0, r[6], r[7], r[8]]) as usize;
        assert_eq!(hs_len, len - 4);
        assert_eq!(&r[9..11], &[3, 2]);
        assert!(r.windows(13).any(|w| w == b"cache.example"));
        // No SNI for an address.
        let r = client_hello(Legacy::Tls10, "127.0.0.1", [7; 32]);
        assert!(!r.windows(9).any(|w| w == b"127.0.0.1"));
        assert_eq!(&r[9..11], &[3, 1]);
    }

    #[test]
    fn judges_server_hello_alert_and_close() {
        let hello = [0x16, 3, 2, 0, 0x4a, 2, 0, 0, 0x46, 3, 2, 0xaa];
        assert_eq!(judge(Legacy::Tls11, &hello), Answer::Accepted);
        assert!(matches!(judge(Legacy::Tls10, &hello), Answer::Refused(_)));
        // OpenSSL's protocol_version alert (70).
        let alert = [0x15, 3, 1, 0, 2, 2, 70];
        assert_eq!(
            judge(Legacy::Tls11, &alert),
            Answer::Refused("alert 70".into())
        );
        assert_eq!(
            judge(Legacy::Tls11, &[]),
            Answer::Refused("connection closed".into())
        );
    }
}
