//! Watching `/api/v1/alerts`: which alerts a fault must raise (with their
//! bounds), what each poll showed of them, and the verdict. Each expected
//! alert keeps its own fault time, so faults that overlap are judged
//! separately. The judgement is pure (unit-tested over captured replies);
//! [`Watch`] only adds the polling.

use crate::prom::Prom;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How often `/api/v1/alerts` is polled while waiting.
const POLL: Duration = Duration::from_millis(250);

/// One alert a fault must raise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    /// Alert name.
    pub alert: String,
    /// Its `instance` label, when it is about one node.
    pub instance: Option<String>,
    /// Its `for:` (ms).
    pub for_ms: u64,
    /// Fault → firing allowed: `for:` + two evaluation intervals + how
    /// long the fault takes to show in a scrape.
    pub bound_ms: u64,
}

impl Expect {
    /// `Name{instance="n3"}` or `Name`.
    pub fn name(&self) -> String {
        match &self.instance {
            Some(i) => format!("{}{{instance=\"{i}\"}}", self.alert),
            None => self.alert.clone(),
        }
    }
}

/// One alert's state in an `/api/v1/alerts` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Active {
    /// `alertname`.
    pub alert: String,
    /// `instance`, "" when absent.
    pub instance: String,
    /// `pending` or `firing`.
    pub state: String,
}

/// The alerts of an `/api/v1/alerts` `data` object.
pub fn active(data: &Value) -> Vec<Active> {
    let Some(list) = data.get("alerts").and_then(Value::as_array) else {
        return Vec::new();
    };
    let text = |a: &Value, k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    list.iter()
        .map(|a| {
            let labels = a.get("labels").cloned().unwrap_or(Value::Null);
            Active {
                alert: text(&labels, "alertname"),
                instance: text(&labels, "instance"),
                state: text(a, "state"),
            }
        })
        .collect()
}

/// The state `e` is in according to `alerts`: `firing` wins over
/// `pending`; `None` when absent.
pub fn state_of<'a>(e: &Expect, alerts: &'a [Active]) -> Option<&'a str> {
    let mut best = None;
    for a in alerts
        .iter()
        .filter(|a| a.alert == e.alert && e.instance.as_deref().is_none_or(|i| a.instance == i))
    {
        if a.state == "firing" {
            return Some("firing");
        }
        best = Some(a.state.as_str());
    }
    best
}

/// What was seen of one expected alert after the fault.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Fault → first poll that saw it pending (ms).
    pub pending_ms: Option<u64>,
    /// Fault → first poll that saw it firing (ms).
    pub fired_ms: Option<u64>,
}

impl Seen {
    /// Records one poll `t_ms` after the fault.
    pub fn observe(&mut self, state: Option<&str>, t_ms: u64) {
        match state {
            Some("firing") if self.fired_ms.is_none() => self.fired_ms = Some(t_ms),
            Some("pending") if self.pending_ms.is_none() => self.pending_ms = Some(t_ms),
            _ => {}
        }
    }
}

/// The verdict on one alert: `Ok(line)` when it fired within its bound,
/// `Err(line)` otherwise.
pub fn judge(e: &Expect, seen: &Seen) -> Result<String, String> {
    let head = format!("{}: for {} ms, bound {} ms", e.name(), e.for_ms, e.bound_ms);
    match (seen.fired_ms, seen.pending_ms) {
        (Some(t), _) if t <= e.bound_ms => Ok(format!("{head}, fired at t={t} ms: pass")),
        (Some(t), _) => Err(format!("{head}, fired at t={t} ms, late: fail")),
        (None, Some(p)) => Err(format!(
            "{head}, pending from t={p} ms but never firing: fail"
        )),
        (None, None) => Err(format!("{head}, never pending or firing: fail")),
    }
}

/// An expected alert being watched since its fault.
struct Watched {
    expect: Expect,
    fault: Instant,
    seen: Seen,
}

/// What the poller shares with the drill.
#[derive(Default)]
struct Shared {
    armed: Vec<Watched>,
    last_error: Option<String>,
}

/// The alerts armed so far, polled together by a background task every
/// [`POLL`] from creation to drop: an alert that fires while the drill is
/// busy with another fault (a failover takes seconds) is seen when it
/// fires, not when the drill next looks.
pub(crate) struct Watch {
    prom: Prom,
    shared: std::sync::Arc<std::sync::Mutex<Shared>>,
    poller: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

impl Watch {
    pub(crate) fn new(prom: Prom) -> Self {
        let shared = std::sync::Arc::new(std::sync::Mutex::new(Shared::default()));
        let poller = {
            let (prom, shared) = (prom.clone(), shared.clone());
            tokio::spawn(async move {
                loop {
                    let reply = fetch(&prom).await;
                    if let Ok(mut s) = shared.lock() {
                        match reply {
                            Ok(alerts) => {
                                for w in &mut s.armed {
                                    w.seen
                                        .observe(state_of(&w.expect, &alerts), ms_since(w.fault));
                                }
                            }
                            Err(e) => s.last_error = Some(e),
                        }
                    }
                    tokio::time::sleep(POLL).await;
                }
            })
        };
        Self {
            prom,
            shared,
            poller,
        }
    }

    /// The current alerts.
    pub(crate) async fn fetch(&self) -> Result<Vec<Active>, String> {
        fetch(&self.prom).await
    }

    /// Starts watching `e` from `fault` (the caller checked it was clear
    /// before the fault).
    pub(crate) fn arm(&mut self, e: Expect, fault: Instant) {
        if let Ok(mut s) = self.shared.lock() {
            s.armed.push(Watched {
                expect: e,
                fault,
                seen: Seen::default(),
            });
        }
    }

    /// Waits, bounded by `bound`, until `e` is neither pending nor firing
    /// (e.g. the replication links a failover dropped came back).
    pub(crate) async fn until_clear(&mut self, e: &Expect, bound: Duration) -> Result<(), String> {
        let deadline = Instant::now() + bound;
        loop {
            let alerts = self.fetch().await?;
            match state_of(e, &alerts) {
                None => return Ok(()),
                Some(s) if Instant::now() >= deadline => {
                    return Err(format!(
                        "see {} clear before its fault within {bound:?}: still {s}",
                        e.name()
                    ))
                }
                Some(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Waits until every armed alert whose name is in `names` (all when
    /// empty) fired or passed its bound.
    pub(crate) async fn wait(&mut self, names: &[&str]) {
        let open = |w: &Watched| {
            (names.is_empty() || names.contains(&w.expect.alert.as_str()))
                && w.seen.fired_ms.is_none()
                && ms_since(w.fault) <= w.expect.bound_ms
        };
        loop {
            let any = self
                .shared
                .lock()
                .map(|s| s.armed.iter().any(open))
                .unwrap_or(false);
            if !any {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The last poll that failed, said in the evidence.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.shared.lock().ok().and_then(|s| s.last_error.clone())
    }

    /// The verdict on every armed alert, in arming order.
    pub(crate) fn verdicts(&self) -> Vec<Result<String, String>> {
        self.shared
            .lock()
            .map(|s| s.armed.iter().map(|w| judge(&w.expect, &w.seen)).collect())
            .unwrap_or_default()
    }
}

async fn fetch(prom: &Prom) -> Result<Vec<Active>, String> {
    prom.get("/api/v1/alerts", &[])
        .await
        .map(|d| active(&d))
        .map_err(|e| format!("read /api/v1/alerts: {e}"))
}

pub(crate) fn ms_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expect {
        Expect {
            alert: "RedisDown".into(),
            instance: Some("n3".into()),
            for_ms: 60_000,
            bound_ms: 63_000,
        }
    }

    fn reply(state: &str, instance: &str) -> Value {
        serde_json::json!({"alerts": [
            {"labels": {"alertname": "RedisDown", "instance": instance, "severity": "critical"},
             "state": state, "activeAt": "2026-12-01T23:00:00Z", "value": "0e+00"}
        ]})
    }

    #[test]
    fn firing_within_the_bound_passes() {
        let e = expect();
        let mut s = Seen::default();
        s.observe(state_of(&e, &active(&reply("pending", "n3"))), 1_000);
        s.observe(state_of(&e, &active(&reply("firing", "n3"))), 61_500);
        assert_eq!(s.pending_ms, Some(1_000));
        assert!(judge(&e, &s).unwrap().contains("fired at t=61500 ms: pass"));
    }

    #[test]
    fn absent_pending_only_or_late_fails() {
        let e = expect();
        let mut absent = Seen::default();
        absent.observe(state_of(&e, &active(&serde_json::json!({"alerts": []}))), 5);
        // Another node's alert is not this one's.
        absent.observe(state_of(&e, &active(&reply("firing", "n2"))), 10);
        assert!(judge(&e, &absent)
            .unwrap_err()
            .contains("never pending or firing"));

        let mut pending = Seen::default();
        pending.observe(state_of(&e, &active(&reply("pending", "n3"))), 2_000);
        pending.observe(state_of(&e, &active(&reply("pending", "n3"))), 63_000);
        assert!(judge(&e, &pending).unwrap_err().contains("never firing"));

        let mut late = Seen::default();
        late.observe(state_of(&e, &active(&reply("firing", "n3"))), 70_000);
        assert!(judge(&e, &late).unwrap_err().contains("late"));
    }

    /// Captured from the launched stack during a drill: the scratch node's
    /// memory alerts and a promoted replica, beside another deployment's
    /// node (`instance` differs) and an alert without `instance`.
    #[test]
    fn a_captured_reply_with_several_faults_is_read_per_alert_and_node() {
        let data = serde_json::json!({"alerts": [
            {"labels": {"alertname": "RedisMemoryHigh", "instance": "scratch-n1", "job": "redis", "deployment": "scratch", "severity": "warning"},
             "annotations": {}, "state": "pending", "activeAt": "2026-12-02T01:40:01.5Z", "value": "1.0087890625e+00"},
            {"labels": {"alertname": "RedisWritesRejectedOOM", "instance": "scratch-n1", "job": "redis", "err": "OOM", "severity": "critical"},
             "annotations": {}, "state": "firing", "activeAt": "2026-12-02T01:40:03.5Z", "value": "9e+00"},
            {"labels": {"alertname": "RedisPrimaryChanged", "instance": "n2", "job": "redis", "role": "master", "severity": "warning"},
             "annotations": {}, "state": "firing", "activeAt": "2026-12-02T01:40:07.5Z", "value": "1e+00"},
            {"labels": {"alertname": "RedisSentinelReplicaDown", "master_name": "mymaster", "instance": "s1", "severity": "warning"},
             "annotations": {}, "state": "pending", "activeAt": "2026-12-02T01:40:12.5Z", "value": "1e+00"}
        ]});
        let alerts = active(&data);
        let e = |alert: &str, instance: Option<&str>| Expect {
            alert: alert.into(),
            instance: instance.map(str::to_owned),
            for_ms: 0,
            bound_ms: 3_000,
        };
        assert_eq!(
            state_of(&e("RedisMemoryHigh", Some("scratch-n1")), &alerts),
            Some("pending")
        );
        assert_eq!(
            state_of(&e("RedisWritesRejectedOOM", Some("scratch-n1")), &alerts),
            Some("firing")
        );
        assert_eq!(
            state_of(&e("RedisPrimaryChanged", Some("n2")), &alerts),
            Some("firing")
        );
        assert_eq!(
            state_of(&e("RedisPrimaryChanged", Some("n1")), &alerts),
            None
        );
        assert_eq!(
            state_of(&e("RedisSentinelReplicaDown", None), &alerts),
            Some("pending")
        );
        assert_eq!(state_of(&e("RedisReplicationBroken", None), &alerts), None);
        assert!(active(&serde_json::json!({"status": "error"})).is_empty());
    }
}
