//! TLS for `rediss://` targets: the rustls client configuration every
//! connection uses, the handshake, and an inspection of what a server
//! offers (protocol, certificate chain, validity, client-certificate
//! request) for the `tls.*` checks.
//!
//! The toolkit does the handshake itself rather than through redis-rs so
//! that the byte stream under the Redis protocol can be bounded
//! ([`crate::capped`]) and so that the checks see the certificate the
//! server presented, which redis-rs does not expose.
//!
//! [`certs`] generates the CA and certificates of the launched TLS profile
//! (rcgen); [`legacy`] asks a server whether it still speaks TLS 1.0/1.1,
//! which rustls cannot negotiate.

pub mod certs;
pub mod der;
pub mod legacy;

use crate::target::{Target, TlsFiles};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Why TLS could not be set up or completed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read.
    #[error("failed to read TLS file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("failed to parse TLS file {path}: {detail}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// rustls refused the configuration (e.g. a key that does not match).
    #[error("failed to set up TLS: {0}")]
    Config(String),
    /// The host is not a valid TLS server name.
    #[error("failed to use `{0}` as a TLS server name")]
    ServerName(String),
    /// TCP connect failed.
    #[error("failed to connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The handshake failed (untrusted certificate, plaintext server, …).
    #[error("{0}")]
    Handshake(String),
    /// No answer within the bound.
    #[error("no TLS answer within {0:?}")]
    Timeout(Duration),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::File {
        path: path.display().to_string(),
        source,
    })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Parse {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Parse {
            path: path.display().to_string(),
            detail: "no PEM certificate in it".into(),
        });
    }
    Ok(certs)
}

/// The roots that judge a server: the `--tls-ca` bundle alone when given
/// (as redis-rs does), else the system's.
pub fn roots(files: &TlsFiles) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match &files.ca {
        Some(ca) => {
            for cert in certificates(ca)? {
                store.add(cert).map_err(|e| TlsError::Parse {
                    path: ca.display().to_string(),
                    detail: e.to_string(),
                })?;
            }
        }
        None => {
            // Unreadable system certificates only shrink the store; a server
            // they would have trusted then fails its handshake, loudly.
            let native = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(native.certs);
        }
    }
    Ok(store)
}

/// The client certificate and key, when the target names them.
pub fn identity(
    files: &TlsFiles,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, TlsError> {
    let (Some(cert), Some(key)) = (&files.cert, &files.key) else {
        return Ok(None);
    };
    let chain = certificates(cert)?;
    let key_pem = read(key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Parse {
        path: key.display().to_string(),
        detail: e.to_string(),
    })?;
    Ok(Some((chain, key)))
}

/// The client configuration of a target: its roots, its client
/// certificate if any, TLS 1.2 and 1.3 only.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots(files)?);
    let config = match identity(files)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| TlsError::Config(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::ServerName(host.to_owned()))
}

/// Runs the client handshake over `stream`.
pub async fn handshake<S>(
    stream: S,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    TlsConnector::from(config)
        .connect(server_name(host)?, stream)
        .await
        .map_err(|e| TlsError::Handshake(e.to_string()))
}

/// Validity of a certificate, in seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// Not valid before.
    pub not_before: i64,
    /// Not valid after.
    pub not_after: i64,
}

impl Validity {
    /// Whole days from `now` (Unix seconds) to expiry; negative once expired.
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }
}

/// What a TLS server offered to a client that trusts the target's roots.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// Negotiated protocol, e.g. `TLSv1_3`.
    pub protocol: String,
    /// Negotiated cipher suite.
    pub cipher: String,
    /// Certificates the server sent, leaf first.
    pub chain_len: usize,
    /// Whether the chain verifies for the host against the roots, and why
    /// not.
    pub verified: Result<(), String>,
    /// Validity of the leaf certificate, when it parses.
    pub leaf: Option<Validity>,
    /// Whether the server asked for a client certificate.
    pub client_cert_requested: bool,
    /// Whether the server answered a PING on this connection, which carries
    /// no client certificate: `false` means it requires one.
    pub answers_without_client_cert: bool,
    /// The first reply bytes to that PING, or the error.
    pub ping_reply: String,
}

/// Records the chain and the verdict of the real verifier, and lets the
/// handshake go on whatever the verdict, so that an untrusted or expired
/// certificate can still be described. The inspection connection sends no
/// credentials: only a PING, whose reply is not trusted for anything else.
#[derive(Debug)]
struct Recorder {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
}

/// The chain the server presented (leaf first) and the real verdict on it.
type Seen = (Vec<CertificateDer<'static>>, Result<(), String>);

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((chain, verdict));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Notes whether the server asked for a client certificate; offers none.
#[derive(Debug, Default)]
struct NoCert {
    asked: AtomicBool,
}

impl ResolvesClientCert for NoCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.asked.store(true, Ordering::SeqCst);
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// Connects to a `rediss://` target without a client certificate and
/// describes what its server offers. Bounded by `bound` as a whole.
pub async fn inspect(target: &Target, bound: Duration) -> Result<Inspection, TlsError> {
    match tokio::time::timeout(bound, inspect_unbounded(target)).await {
        Ok(r) => r,
        Err(_) => Err(TlsError::Timeout(bound)),
    }
}

async fn inspect_unbounded(target: &Target) -> Result<Inspection, TlsError> {
    let roots = Arc::new(roots(&target.tls_files)?);
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let recorder = Arc::new(Recorder {
        inner,
        seen: Mutex::new(None),
    });
    let no_cert = Arc::new(NoCert::default());
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_client_cert_resolver(no_cert.clone());
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(TlsError::Connect)?;
    let mut tls = handshake(tcp, &target.host, Arc::new(config)).await?;
    let (protocol, cipher) = {
        let (_, conn) = tls.get_ref();
        (
            conn.protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            conn.negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
        )
    };
    // With TLS 1.3 a server that requires a client certificate rejects it
    // only after the client finished: the first read tells.
    let ping = async {
        tls.write_all(b"PING\r\n").await?;
        let mut buf = [0u8; 64];
        let n = tls.read(&mut buf).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf[..n]).trim_end().to_owned())
    };
    let (answers, ping_reply) = match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(text)) if text.starts_with('+') || text.starts_with('-') => (true, text),
        Ok(Ok(text)) => (false, format!("connection closed ({text:?})")),
        Ok(Err(e)) => (false, e.to_string()),
        Err(_) => (false, "no reply within 2s".to_owned()),
    };
    let _ = tls.shutdown().await;
    let (chain, verified) = recorder
        .seen
        .lock()
        .ok()
        .and_then(|mut s| s.take())
        .unwrap_or((Vec::new(), Err("the server sent no certificate".into())));
    Ok(Inspection {
        protocol,
        cipher,
        chain_len: chain.len(),
        verified,
        leaf: chain.first().and_then(|c| der::validity(c.as_ref())),
        client_cert_requested: no_cert.asked.load(Ordering::SeqCst),
        answers_without_client_cert: answers,
        ping_reply,
    })
}
