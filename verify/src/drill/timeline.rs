//! The drill timeline: what happened when, on the drill's one clock.
//!
//! Sources: the drill's own marks (fault injected, heal), every Sentinel's
//! events (`PSUBSCRIBE *`: `+sdown`, `+odown`, `+try-failover`,
//! `+elected-leader`, `+promoted-slave`, `+switch-master`, `+failover-end`,
//! …), each data node's role (ROLE polled every 100 ms), and the writes.
//! From them: write-unavailability, time to promote and split-brain ms.

use super::control::Subject;
use super::writer::{ms, Clock, WriteOutcome, WriteRecord};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use topology::{Target, Timeouts};

/// How often every data node's ROLE is polled.
pub const ROLE_POLL: Duration = Duration::from_millis(100);

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Milliseconds since the drill started.
    pub t_ms: u64,
    /// What: `fault`, `heal`, a Sentinel event name, `role`, ….
    pub event: String,
    /// The node it concerns or that reported it.
    pub node: Option<String>,
    /// Payload (Sentinel message, new role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The shared, append-only event log.
#[derive(Clone)]
pub struct EventLog {
    clock: Clock,
    events: Arc<Mutex<Vec<Event>>>,
}

/// Keeps the log from growing without bound when a Sentinel is chatty.
const MAX_EVENTS: usize = 2000;

impl EventLog {
    /// An empty log on `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            events: Arc::default(),
        }
    }

    /// The drill clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Records an event now; returns its time.
    pub fn record(&self, event: &str, node: Option<&str>, detail: Option<String>) -> u64 {
        let t_ms = self.clock.now_ms();
        self.push(Event {
            t_ms,
            event: event.to_owned(),
            node: node.map(str::to_owned),
            detail,
        });
        t_ms
    }

    /// Records an event at a given time.
    pub fn push(&self, e: Event) {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        if events.len() < MAX_EVENTS {
            events.push(e);
        }
    }

    /// Every event so far, by time.
    pub fn snapshot(&self) -> Vec<Event> {
        let mut v = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        v.sort_by_key(|e| e.t_ms);
        v
    }

    /// The first event named `event` at or after `from_ms`.
    pub fn first(&self, event: &str, from_ms: u64) -> Option<Event> {
        self.snapshot()
            .into_iter()
            .find(|e| e.event == event && e.t_ms >= from_ms)
    }
}

/// A data node's role as one poll saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// `ROLE` said master.
    Master,
    /// `ROLE` said slave (of this address).
    Replica(String),
    /// No answer within the poll's bound.
    Down,
}

impl Seen {
    fn describe(&self) -> String {
        match self {
            Seen::Master => "master".into(),
            Seen::Replica(of) => format!("replica of {of}"),
            Seen::Down => "no answer".into(),
        }
    }
}

/// Role samples: (t_ms, node id, role).
pub type Samples = Arc<Mutex<Vec<(u64, String, Seen)>>>;

/// Background observers (Sentinel subscriptions and role polls); they stop
/// when this is dropped or [`Observers::stop`]ped.
pub struct Observers {
    handles: Vec<tokio::task::JoinHandle<()>>,
    /// Role samples so far.
    pub samples: Samples,
}

impl Observers {
    /// Subscribes to every Sentinel and polls every data node's ROLE.
    pub fn start(d: &Subject<'_>, log: &EventLog) -> Self {
        let samples: Samples = Arc::default();
        let mut handles = Vec::new();
        for s in d.sentinels() {
            handles.push(tokio::spawn(watch_sentinel(
                d.node_target(s),
                s.id.clone(),
                log.clone(),
            )));
        }
        for n in d.data_nodes() {
            handles.push(tokio::spawn(poll_role(
                d.node_target(n),
                n.id.clone(),
                log.clone(),
                samples.clone(),
            )));
        }
        Self { handles, samples }
    }

    /// The latest role each node reported.
    pub fn latest(&self) -> BTreeMap<String, Seen> {
        let mut out = BTreeMap::new();
        for (_, node, seen) in self
            .samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            out.insert(node.clone(), seen.clone());
        }
        out
    }

    /// Every sample so far.
    pub fn samples(&self) -> Vec<(u64, String, Seen)> {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops every observer.
    pub fn stop(&mut self) {
        for h in self.handles.drain(..) {
            h.abort();
        }
    }
}

impl Drop for Observers {
    fn drop(&mut self) {
        self.stop();
    }
}

fn poll_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(300),
        response: Duration::from_millis(300),
    }
}

async fn watch_sentinel(target: Target, id: String, log: EventLog) {
    use futures_util::StreamExt;
    loop {
        let subscribed = async {
            let client = topology::client::client_for(&target).ok()?;
            let t = poll_timeouts();
            let mut pubsub =
                tokio::time::timeout(t.connect + t.response, client.get_async_pubsub())
                    .await
                    .ok()?
                    .ok()?;
            pubsub.psubscribe("*").await.ok()?;
            Some(pubsub)
        }
        .await;
        let Some(pubsub) = subscribed else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        let mut messages = pubsub.into_on_message();
        while let Some(m) = messages.next().await {
            let channel = m.get_channel_name().to_owned();
            let payload: String = m.get_payload().unwrap_or_default();
            log.record(&channel, Some(&id), Some(payload));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn poll_role(target: Target, id: String, log: EventLog, samples: Samples) {
    let t = poll_timeouts();
    let mut conn = None;
    let mut last: Option<Seen> = None;
    let mut tick = tokio::time::interval(ROLE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if conn.is_none() {
            conn = topology::connect(&target, &t).await.ok();
        }
        let seen = match conn.as_mut() {
            None => Seen::Down,
            Some(c) => {
                let reply: redis::RedisResult<redis::Value> =
                    redis::cmd("ROLE").query_async(c).await;
                match reply {
                    Ok(v) => parse_role(&v).unwrap_or(Seen::Down),
                    Err(_) => {
                        conn = None;
                        Seen::Down
                    }
                }
            }
        };
        let now = log.clock().now_ms();
        if last.as_ref() != Some(&seen) {
            log.record("role", Some(&id), Some(seen.describe()));
            last = Some(seen.clone());
        }
        samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((now, id.clone(), seen));
    }
}

fn text(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Reads a ROLE reply.
pub fn parse_role(v: &redis::Value) -> Option<Seen> {
    let redis::Value::Array(items) = v else {
        return None;
    };
    match text(items.first()?)?.as_str() {
        "master" => Some(Seen::Master),
        "slave" => {
            let host = items.get(1).and_then(text).unwrap_or_default();
            let port = items.get(2).and_then(text).unwrap_or_default();
            Some(Seen::Replica(format!("{host}:{port}")))
        }
        _ => None,
    }
}

/// The longest stretch without an acknowledged write that ends after the
/// fault: from the last ack at or before it (or the gap's start) to the
/// first ack after. Returns (gap start ms, gap end ms); the end is `None`
/// when no write was acked after the fault at all.
pub fn unavailability(history: &[WriteRecord], fault_ms: u64) -> (Option<u64>, Option<u64>) {
    let mut acks: Vec<u64> = history
        .iter()
        .filter(|w| w.outcome == WriteOutcome::Acked)
        .map(|w| ms(w.complete))
        .collect();
    acks.sort_unstable();
    let last_before = acks.iter().rev().find(|t| **t <= fault_ms).copied();
    if !acks.iter().any(|t| *t > fault_ms) {
        return (last_before, None);
    }
    let mut best: Option<(u64, u64)> = None;
    let mut prev = last_before;
    for t in acks.iter().copied().filter(|t| *t > fault_ms) {
        let start = prev.unwrap_or(fault_ms);
        if best.is_none_or(|(s, e)| t - start > e - s) {
            best = Some((start, t));
        }
        prev = Some(t);
    }
    match best {
        Some((s, e)) => (Some(s), Some(e)),
        None => (last_before, None),
    }
}

/// The first poll at or after `fault_ms` that saw a node other than
/// `old_primary` report master, among nodes no poll saw as master before
/// the fault (a Cluster's other shards are masters all along).
pub fn first_new_master(
    samples: &[(u64, String, Seen)],
    old_primary: &str,
    fault_ms: u64,
) -> Option<(u64, String)> {
    let before: std::collections::BTreeSet<&str> = samples
        .iter()
        .filter(|(t, _, seen)| *t < fault_ms && *seen == Seen::Master)
        .map(|(_, n, _)| n.as_str())
        .collect();
    samples
        .iter()
        .filter(|(t, node, seen)| {
            *t >= fault_ms
                && node != old_primary
                && *seen == Seen::Master
                && !before.contains(node.as_str())
        })
        .min_by_key(|(t, _, _)| *t)
        .map(|(t, n, _)| (*t, n.clone()))
}

/// Time from the fault to the first poll that saw a new master
/// ([`first_new_master`]).
pub fn promote_ms(
    samples: &[(u64, String, Seen)],
    old_primary: &str,
    fault_ms: u64,
) -> Option<u64> {
    first_new_master(samples, old_primary, fault_ms).map(|(t, _)| t - fault_ms)
}

/// Milliseconds during which two different nodes were both acknowledging
/// writes: the overlap of each node's span of acks (first to last ack it
/// served), summed over pairs. Only writes whose serving node is known
/// count (Sentinel connections tell; cluster ones do not).
pub fn split_brain_ms(history: &[WriteRecord]) -> u64 {
    let mut spans: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for w in history.iter().filter(|w| w.outcome == WriteOutcome::Acked) {
        let Some(node) = &w.node else { continue };
        let t = ms(w.complete);
        let e = spans.entry(node.to_string()).or_insert((t, t));
        e.0 = e.0.min(t);
        e.1 = e.1.max(t);
    }
    let spans: Vec<(u64, u64)> = spans.into_values().collect();
    let mut total = 0;
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            let (s, e) = (a.0.max(b.0), a.1.min(b.1));
            total += e.saturating_sub(s);
        }
    }
    total
}

/// Writes acknowledged by a node `is_node` recognises, completed after
/// `after_ms`: a stale primary's acks once another was promoted.
pub fn acked_by_after(
    history: &[WriteRecord],
    is_node: &dyn Fn(&topology::Addr) -> bool,
    after_ms: u64,
) -> u64 {
    history
        .iter()
        .filter(|w| w.outcome == WriteOutcome::Acked && ms(w.complete) > after_ms)
        .filter(|w| w.node.as_ref().is_some_and(is_node))
        .count() as u64
}

/// Milliseconds during which the role polls saw more nodes report master
/// than there are shards (`shards`: 1 outside a Cluster), at 100 ms
/// resolution.
pub fn dual_master_ms(samples: &[(u64, String, Seen)], shards: usize) -> u64 {
    let mut buckets: BTreeMap<u64, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for (t, node, seen) in samples {
        if *seen == Seen::Master {
            buckets.entry(t / 100).or_default().insert(node);
        }
    }
    buckets.values().filter(|n| n.len() > shards).count() as u64 * 100
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::Addr;

    fn ack(at: u64, port: u16) -> WriteRecord {
        WriteRecord {
            writer: 0,
            seq: at,
            invoke: Duration::from_millis(at),
            complete: Duration::from_millis(at),
            outcome: WriteOutcome::Acked,
            node: Some(Addr::new("h", port)),
            reason: None,
        }
    }

    #[test]
    fn unavailability_spans_the_gap_around_the_fault() {
        let h = [ack(100, 1), ack(200, 1), ack(2700, 2), ack(2710, 2)];
        assert_eq!(unavailability(&h, 250), (Some(200), Some(2700)));
        // The longest gap after the fault wins (a stale primary acked once).
        let h = [ack(100, 1), ack(300, 1), ack(3300, 2)];
        assert_eq!(unavailability(&h, 250), (Some(300), Some(3300)));
        assert_eq!(unavailability(&[ack(100, 1)], 250), (Some(100), None));
    }

    #[test]
    fn promotion_is_the_first_other_master_after_the_fault() {
        let s = vec![
            (100, "n1".to_owned(), Seen::Master),
            (2000, "n2".to_owned(), Seen::Replica("n1".into())),
            (2600, "n2".to_owned(), Seen::Master),
        ];
        assert_eq!(promote_ms(&s, "n1", 500), Some(2100));
        assert_eq!(promote_ms(&s, "n2", 500), None);
        assert_eq!(dual_master_ms(&s, 1), 0);
        let both = vec![
            (150, "n1".to_owned(), Seen::Master),
            (160, "n2".to_owned(), Seen::Master),
        ];
        assert_eq!(dual_master_ms(&both, 1), 100);
        assert_eq!(dual_master_ms(&both, 2), 0);
        // A Cluster: n3 is another shard's master all along, n4 is promoted.
        let cluster = vec![
            (100, "n1".to_owned(), Seen::Master),
            (100, "n3".to_owned(), Seen::Master),
            (900, "n3".to_owned(), Seen::Master),
            (2900, "n4".to_owned(), Seen::Master),
        ];
        assert_eq!(promote_ms(&cluster, "n1", 500), Some(2400));
    }

    #[test]
    fn split_brain_is_the_overlap_of_two_nodes_acking() {
        assert_eq!(split_brain_ms(&[ack(0, 1), ack(100, 1), ack(200, 2)]), 0);
        assert_eq!(
            split_brain_ms(&[ack(0, 1), ack(300, 1), ack(200, 2), ack(400, 2)]),
            100
        );
    }

    #[test]
    fn stale_acks_are_the_old_nodes_acks_after_the_promotion() {
        let h = [ack(100, 1), ack(300, 1), ack(350, 2), ack(400, 1)];
        let old = |a: &Addr| a.port == 1;
        assert_eq!(acked_by_after(&h, &old, 250), 2);
        assert_eq!(acked_by_after(&h, &old, 400), 0);
    }

    #[test]
    fn role_replies_parse() {
        let master = redis::Value::Array(vec![
            redis::Value::BulkString(b"master".to_vec()),
            redis::Value::Int(10),
            redis::Value::Array(vec![]),
        ]);
        assert_eq!(parse_role(&master), Some(Seen::Master));
        let replica = redis::Value::Array(vec![
            redis::Value::BulkString(b"slave".to_vec()),
            redis::Value::BulkString(b"10.0.0.1".to_vec()),
            redis::Value::Int(6379),
            redis::Value::BulkString(b"connected".to_vec()),
            redis::Value::Int(10),
        ]);
        assert_eq!(
            parse_role(&replica),
            Some(Seen::Replica("10.0.0.1:6379".into()))
        );
    }
}
