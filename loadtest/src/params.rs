//! Workload parameters, from the command line: what every workload is
//! built with, and how they appear in the summary's `settings`.

use std::time::Duration;

/// Workload parameters, from the command line.
#[derive(Clone, Debug)]
pub struct Params {
    /// Key prefix of the run (`lt:<run id>:`), so runs never share keys.
    pub prefix: String,
    /// Distinct clients / accounts / senders.
    pub clients: u64,
    /// Limit per window (rate limits, failed logins).
    pub limit: u64,
    /// Window.
    pub window: Duration,
    /// getset and cache key space.
    pub keyspace: u64,
    /// Value size in bytes.
    pub value_size: usize,
    /// Fraction of GETs in getset.
    pub get_ratio: f64,
    /// Session TTL.
    pub session_ttl: Duration,
    /// Cache TTL.
    pub cache_ttl: Duration,
    /// Idempotency key TTL.
    pub idempotency_ttl: Duration,
    /// Lock names.
    pub locks: u64,
    /// Lock lease.
    pub lock_ttl: Duration,
    /// Mean lock hold time.
    pub lock_hold: Duration,
    /// Actions per Goose transaction.
    pub actions_per_transaction: u32,
}

impl Params {
    /// Parameters as JSON, for the summary's `settings`.
    pub fn settings(&self) -> Vec<(&'static str, serde_json::Value)> {
        use serde_json::json;
        let ms = |d: Duration| json!(d.as_secs_f64() * 1000.0);
        vec![
            ("clients", json!(self.clients)),
            ("limit", json!(self.limit)),
            ("window_ms", ms(self.window)),
            ("keyspace", json!(self.keyspace)),
            ("value_size", json!(self.value_size)),
            ("get_ratio", json!(self.get_ratio)),
            ("session_ttl_ms", ms(self.session_ttl)),
            ("cache_ttl_ms", ms(self.cache_ttl)),
            ("idempotency_ttl_ms", ms(self.idempotency_ttl)),
            ("locks", json!(self.locks)),
            ("lock_ttl_ms", ms(self.lock_ttl)),
            ("lock_hold_ms", ms(self.lock_hold)),
            (
                "actions_per_transaction",
                json!(self.actions_per_transaction),
            ),
        ]
    }
}
