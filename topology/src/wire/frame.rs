//! Where a RESP reply ends.
//!
//! The lean connection reads bytes as they come and must know when one whole
//! reply is in its buffer before it hands the bytes to redis-rs's parser
//! (which then never sees a partial frame, so it needs no resumable state).
//! [`frame_len`] walks the headers only: it skips blob bodies by their
//! announced length and counts the elements aggregates still owe, without
//! allocating or building any value.
//!
//! It accepts RESP2 and the RESP3 types, so a server that answers in RESP3
//! (or sends an attribute) is framed correctly even though the connection
//! asks for RESP2.

use thiserror::Error;

/// Why bytes are not a RESP reply.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// A type byte RESP does not define.
    #[error("failed to parse a reply: unknown type byte 0x{0:02x}")]
    UnknownType(u8),
    /// A length or count that is not a number (or below -1).
    #[error("failed to parse a reply: bad length")]
    BadLength,
    /// A blob not followed by CRLF.
    #[error("failed to parse a reply: blob not terminated by CRLF")]
    BadTerminator,
}

/// The length of the first complete reply in `buf`, `None` when more bytes
/// are needed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut pos = 0usize;
    // Elements still owed by the aggregates opened so far, plus the reply.
    let mut owed: u64 = 1;
    while owed > 0 {
        let Some(&kind) = buf.get(pos) else {
            return Ok(None);
        };
        let Some(line_end) = find_crlf(buf, pos + 1) else {
            // Reject junk early rather than wait for a CRLF that a non-Redis
            // peer may never send.
            return match kind {
                b'+' | b'-' | b':' | b'$' | b'*' | b'_' | b',' | b'#' | b'(' | b'!' | b'='
                | b'%' | b'~' | b'>' | b'|' => Ok(None),
                other => Err(FrameError::UnknownType(other)),
            };
        };
        let line = &buf[pos + 1..line_end];
        let next = line_end + 2;
        owed -= 1;
        match kind {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => pos = next,
            b'$' | b'!' | b'=' => match length(line)? {
                None => pos = next,
                Some(n) => {
                    let end = next.checked_add(n).ok_or(FrameError::BadLength)?;
                    if buf.len() < end + 2 {
                        return Ok(None);
                    }
                    if &buf[end..end + 2] != b"\r\n" {
                        return Err(FrameError::BadTerminator);
                    }
                    pos = end + 2;
                }
            },
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = length(line)?.unwrap_or(0) as u64;
                let add = match kind {
                    b'%' => n.checked_mul(2),
                    // An attribute map is followed by the value it describes.
                    b'|' => n.checked_mul(2).and_then(|m| m.checked_add(1)),
                    _ => Some(n),
                };
                owed = add
                    .and_then(|a| owed.checked_add(a))
                    .ok_or(FrameError::BadLength)?;
                pos = next;
            }
            other => return Err(FrameError::UnknownType(other)),
        }
    }
    Ok(Some(pos))
}

/// The commonest replies (a status, an integer, a bulk string or its
/// null), decoded in place exactly as redis-rs's parser decodes them; `None`
/// for anything else, which goes to the parser. `frame` must be one whole
/// frame as [`frame_len`] measured it. redis-rs's parser copies every reply
/// into its own buffer after zeroing 8 KiB of it; for a 3-byte GET reply
/// that copy is most of the decoding cost.
pub fn decode_simple(frame: &[u8]) -> Option<redis::Value> {
    use redis::Value;
    let (&kind, rest) = frame.split_first()?;
    let header_end = find_crlf(rest, 0)?;
    let line = &rest[..header_end];
    match kind {
        b'+' => {
            let text = std::str::from_utf8(line).ok()?;
            Some(if text == "OK" {
                Value::Okay
            } else {
                Value::SimpleString(text.to_owned())
            })
        }
        b':' => std::str::from_utf8(line)
            .ok()?
            .trim()
            .parse::<i64>()
            .ok()
            .map(Value::Int),
        b'$' => match length(line).ok()? {
            None => Some(Value::Nil),
            Some(n) => {
                let body = rest.get(header_end + 2..header_end + 2 + n)?;
                Some(Value::BulkString(body.to_vec()))
            }
        },
        _ => None,
    }
}

/// A length header: `Some(n)`, or `None` for the RESP2 null (`-1`).
fn length(line: &[u8]) -> Result<Option<usize>, FrameError> {
    if line == b"-1" {
        return Ok(None);
    }
    if line.is_empty() || line.len() > 19 {
        return Err(FrameError::BadLength);
    }
    let mut n = 0usize;
    for &b in line {
        if !b.is_ascii_digit() {
            return Err(FrameError::BadLength);
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Ok(Some(n))
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let mut i = 0;
    while let Some(off) = rest[i..].iter().position(|&b| b == b'\r') {
        let at = i + off;
        if rest.get(at + 1) == Some(&b'\n') {
            return Some(from + at);
        }
        if at + 1 >= rest.len() {
            return None;
        }
        i = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replies captured from redis-server 7.0 (RESP2 and, with HELLO 3,
    /// RESP3), plus the RESP3 spec's examples for types 7.0 never sends.
    const REPLIES: &[&[u8]] = &[
        b"+OK\r\n",
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        b":1\r\n",
        b"$3\r\nabc\r\n",
        b"$0\r\n\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"*0\r\n",
        b"$4\r\na\r\nb\r\n",
        b"*2\r\n$4\r\nTIME\r\n*2\r\n:1\r\n$-1\r\n",
        b"*3\r\n:1\r\n*2\r\n+a\r\n-ERR x\r\n*1\r\n*1\r\n$1\r\nz\r\n",
        b"*2\r\n$10\r\n1733100000\r\n$6\r\n123456\r\n",
        b"_\r\n",
        b",3.14\r\n",
        b",inf\r\n",
        b"#t\r\n",
        b"(3492890328409238509324850943850943825024385\r\n",
        b"!21\r\nSYNTAX invalid syntax\r\n",
        b"=15\r\ntxt:Some string\r\n",
        b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
        b"~3\r\n+a\r\n:1\r\n_\r\n",
        b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n",
    ];

    #[test]
    fn every_captured_reply_is_framed_whole_and_parses() {
        for r in REPLIES {
            assert_eq!(
                frame_len(r),
                Ok(Some(r.len())),
                "{:?}",
                String::from_utf8_lossy(r)
            );
            // The frame is exactly what redis-rs's parser consumes.
            redis::parse_redis_value(r).expect("redis-rs parses the frame");
        }
    }

    #[test]
    fn the_fast_decoder_agrees_with_redis_rs_or_declines() {
        let extra: &[&[u8]] = &[
            b"+\r\n",
            b"+QUEUED\r\n",
            b":-9223372036854775808\r\n",
            b":12x\r\n",
            b"$5\r\nhe\r\no\r\n",
            b"+caf\xc3\xa9\r\n",
        ];
        let mut decoded = 0;
        for r in REPLIES.iter().chain(extra) {
            if let Some(v) = decode_simple(r) {
                decoded += 1;
                assert_eq!(
                    Ok(v),
                    redis::parse_redis_value(r),
                    "{:?}",
                    String::from_utf8_lossy(r)
                );
            }
        }
        assert!(decoded >= 10, "the fast path took only {decoded}");
        // Errors, aggregates and RESP3 types are the parser's.
        for r in [&b"-ERR x\r\n"[..], b"*0\r\n", b"_\r\n", b"%0\r\n"] {
            assert_eq!(decode_simple(r), None);
        }
        // Garbage where a number should be: the parser reports it.
        assert_eq!(decode_simple(b":12x\r\n"), None);
    }

    #[test]
    fn a_reply_split_at_every_byte_needs_more() {
        for r in REPLIES {
            for cut in 0..r.len() {
                assert_eq!(
                    frame_len(&r[..cut]),
                    Ok(None),
                    "{:?} cut at {cut}",
                    String::from_utf8_lossy(r)
                );
            }
        }
    }

    #[test]
    fn back_to_back_replies_are_framed_one_at_a_time() {
        let mut all = Vec::new();
        for r in REPLIES {
            all.extend_from_slice(r);
        }
        let mut at = 0;
        for r in REPLIES {
            let n = frame_len(&all[at..]).unwrap().unwrap();
            assert_eq!(&all[at..at + n], *r);
            at += n;
        }
        assert_eq!(at, all.len());
    }

    #[test]
    fn malformed_bytes_fail_instead_of_waiting() {
        assert_eq!(
            frame_len(b"HTTP/1.1 400"),
            Err(FrameError::UnknownType(b'H'))
        );
        assert_eq!(frame_len(b"$x\r\n"), Err(FrameError::BadLength));
        assert_eq!(frame_len(b"$-2\r\n"), Err(FrameError::BadLength));
        assert_eq!(frame_len(b"*-5\r\n"), Err(FrameError::BadLength));
        assert_eq!(frame_len(b"$3\r\nabcd\r\n"), Err(FrameError::BadTerminator));
        assert_eq!(
            frame_len(b"*99999999999999999999\r\n"),
            Err(FrameError::BadLength)
        );
        assert_eq!(frame_len(b"?\r\n"), Err(FrameError::UnknownType(b'?')));
    }

    #[test]
    fn a_huge_announced_blob_only_asks_for_more_bytes() {
        // The cap is the reader's job: the scanner must not allocate or
        // overflow on what a header announces.
        assert_eq!(frame_len(b"$1073741824\r\nabc"), Ok(None));
        assert_eq!(frame_len(b"*4294967295\r\n:1\r\n"), Ok(None));
    }
}
