//! Exit codes, documented in the README and `verify --help`.

/// Every check passed (warnings and skips allowed).
pub const PASS: i32 = 0;
/// At least one deny-level check failed.
pub const FAIL: i32 = 1;
/// Usage, configuration or connection error, or a check that could not be
/// evaluated: the run says nothing about the deployment.
pub const ERROR: i32 = 2;
