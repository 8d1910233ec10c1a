//! A string that must never reach output or logs: passwords.

use std::fmt;

/// A secret value. `Debug` and `Display` print a placeholder so that a
/// secret inside a larger struct cannot leak through `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it to a server.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 hash in the form Redis ACL files accept (`#<hex>`), so a
    /// rendered ACL file never holds the clear-text password.
    pub fn acl_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        format!("#{}", hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
    }

    #[test]
    fn acl_hash_is_sha256_hex() {
        // sha256("foobar"), the example in the Redis ACL documentation.
        assert_eq!(
            Secret::new("foobar").acl_hash(),
            "#c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2"
        );
    }
}
