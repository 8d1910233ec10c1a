//! Certificates for the launched TLS profile, generated at launch with
//! rcgen: a CA, one server certificate for every name the deployment is
//! reached by, and a client certificate for `tls-auth-clients`. Keys are
//! ECDSA P-256; files are PEM in the deployment's temp dir, which only its
//! owner can enter (the keys themselves are 0644 so that a container's
//! `redis` user can read them through the bind mount).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Why certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused the parameters.
    #[error("failed to generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing a file failed.
    #[error("failed to write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct CertSpec {
    /// Names and addresses the server certificate is valid for
    /// (`localhost`, `127.0.0.1`, container host names).
    pub server_names: Vec<String>,
    /// How long the server certificate is valid from now; the CA lives
    /// ten times as long.
    pub valid_for: Duration,
}

impl Default for CertSpec {
    fn default() -> Self {
        Self {
            server_names: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            valid_for: Duration::from_secs(365 * 86_400),
        }
    }
}

/// The files written, as redis.conf and clients name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsMaterial {
    /// CA certificate (`tls-ca-cert-file`, the client's `--tls-ca`).
    pub ca: PathBuf,
    /// Server certificate (`tls-cert-file`), also used for replication and
    /// the cluster bus.
    pub server_cert: PathBuf,
    /// Its key (`tls-key-file`).
    pub server_key: PathBuf,
    /// Client certificate (`tls-client-cert-file`, the client's `--tls-cert`).
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
}

impl TlsMaterial {
    /// The same files under another directory (as a container mounts them).
    pub fn relocated(&self, dir: &Path) -> Self {
        let at = |p: &Path| dir.join(p.file_name().unwrap_or_default());
        Self {
            ca: at(&self.ca),
            server_cert: at(&self.server_cert),
            server_key: at(&self.server_key),
            client_cert: at(&self.client_cert),
            client_key: at(&self.client_key),
        }
    }
}

fn write(path: PathBuf, text: &str, private: bool) -> Result<PathBuf, CertError> {
    let fail = |source| CertError::Write {
        path: path.clone(),
        source,
    };
    std::fs::write(&path, text).map_err(fail)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        // Not 0600: the container's redis user is not the file's owner.
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(path)
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "redis-readiness");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Generates the CA, server and client certificates into `dir`.
pub fn generate(dir: &Path, spec: &CertSpec) -> Result<TlsMaterial, CertError> {
    let now = SystemTime::now();
    // Backdated a minute: a container clock a little behind the host's
    // must not see a certificate from the future.
    let not_before = (now - Duration::from_secs(60)).into();

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name = dn("redis-readiness test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = not_before;
    ca_params.not_after = (now + spec.valid_for * 10).into();
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, &ca_key);

    let leaf = |names: Vec<String>,
                cn: &str,
                usage: ExtendedKeyUsagePurpose|
     -> Result<(String, String), CertError> {
        let mut p = CertificateParams::new(names)?;
        p.distinguished_name = dn(cn);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        // Redis uses one certificate as server and as client (replication,
        // cluster bus), so the server certificate allows both.
        p.extended_key_usages = match usage {
            ExtendedKeyUsagePurpose::ServerAuth => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            other => vec![other],
        };
        p.not_before = not_before;
        p.not_after = (now + spec.valid_for).into();
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (server_pem, server_key) = leaf(
        spec.server_names.clone(),
        spec.server_names.first().map_or("redis", String::as_str),
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (client_pem, client_key) = leaf(
        Vec::new(),
        "redis-readiness client",
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;
    Ok(TlsMaterial {
        ca: write(dir.join("ca.pem"), &ca_cert.pem(), false)?,
        server_cert: write(dir.join("server.pem"), &server_pem, false)?,
        server_key: write(dir.join("server.key"), &server_key, true)?,
        client_cert: write(dir.join("client.pem"), &client_pem, false)?,
        client_key: write(dir.join("client.key"), &client_key, true)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_chain_that_verifies_for_every_name() {
        let dir = tempfile::tempdir().unwrap();
        let spec = CertSpec {
            valid_for: Duration::from_secs(3 * 86_400),
            ..CertSpec::default()
        };
        let m = generate(dir.path(), &spec).unwrap();
        let files = crate::target::TlsFiles {
            ca: Some(m.ca.clone()),
            cert: Some(m.client_cert.clone()),
            key: Some(m.client_key.clone()),
        };
        // The client side accepts every file.
        crate::tls::client_config(&files).unwrap();
        let roots = std::sync::Arc::new(crate::tls::roots(&files).unwrap());
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots,
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let pem = std::fs::read(&m.server_cert).unwrap();
        use rustls::pki_types::pem::PemObject;
        let leaf = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
            .next()
            .unwrap()
            .unwrap();
        let now = rustls::pki_types::UnixTime::now();
        use rustls::client::danger::ServerCertVerifier;
        for name in ["localhost", "127.0.0.1"] {
            let sn = rustls::pki_types::ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(&leaf, &[], &sn, &[], now)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let other = rustls::pki_types::ServerName::try_from("cache.example").unwrap();
        assert!(verifier
            .verify_server_cert(&leaf, &[], &other, &[], now)
            .is_err());
        let v = crate::tls::der::validity(leaf.as_ref()).unwrap();
        let secs = now.as_secs() as i64;
        assert!((2..=3).contains(&v.days_left(secs)), "{v:?}");
    }
}
