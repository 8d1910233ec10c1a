//! The set checker (after Jepsen's `set-full` and `total-queue`): given
//! every write the clients attempted and what the lists hold after the
//! deployment healed and settled, count what was lost, recovered,
//! unexpected and duplicated, and how every node diverges from the final
//! primary.
//!
//! - **lost**: acked, absent on the final primary;
//! - **recovered**: unknown, present;
//! - **unexpected**: present, never attempted;
//! - **duplicated**: present more than once (writes are never retried, so
//!   any duplicate is an anomaly);
//! - **failed_present**: failed (a definite refusal), yet present: the
//!   refusal was not definite after all.

use super::writer::{ms, WriteOutcome, WriteRecord};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// What one node holds: writer index → the list's values, as read.
pub type Lists = BTreeMap<usize, Vec<String>>;

/// How one node differs from the final primary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// The node's id.
    pub node: String,
    /// Values the primary holds and this node does not.
    pub missing: u64,
    /// Values this node holds and the primary does not.
    pub extra: u64,
    /// Why the node could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The counts of one drill.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Accounting {
    /// Writes sent.
    pub attempted: u64,
    /// Confirmed.
    pub acked: u64,
    /// Definitely refused.
    pub failed: u64,
    /// Outcome unknown to the client.
    pub unknown: u64,
    /// Acked but absent on the final primary.
    pub lost: u64,
    /// Unknown and present.
    pub recovered: u64,
    /// Present and never attempted.
    pub unexpected: u64,
    /// Present more than once (distinct values).
    pub duplicated: u64,
    /// Failed yet present.
    pub failed_present: u64,
    /// Completion times (ms on the drill clock) of the first and last lost
    /// write, when any was lost.
    pub lost_span_ms: Option<(u64, u64)>,
    /// Lost writes per node that acknowledged them (Sentinel: the primary
    /// the connection used), `?` when the connection cannot tell.
    pub lost_by_node: BTreeMap<String, u64>,
    /// A few lost writes, `writer:seq`, for the evidence.
    pub lost_sample: Vec<String>,
    /// Every data node against the final primary.
    pub divergence: Vec<Divergence>,
}

/// Checks `history` against the final primary's `primary` lists and each
/// node's own lists (`Err` when a node could not be read). `name` turns a
/// node address from the history into a node id.
pub fn check(
    history: &[WriteRecord],
    primary: &Lists,
    nodes: &[(String, Result<Lists, String>)],
    name: &dyn Fn(&topology::Addr) -> String,
) -> Accounting {
    let mut a = Accounting {
        attempted: history.len() as u64,
        ..Accounting::default()
    };
    let mut attempted: HashMap<(usize, u64), &WriteRecord> = HashMap::new();
    for w in history {
        match w.outcome {
            WriteOutcome::Acked => a.acked += 1,
            WriteOutcome::Failed => a.failed += 1,
            WriteOutcome::Unknown => a.unknown += 1,
        }
        attempted.insert((w.writer, w.seq), w);
    }
    let mut present: BTreeMap<(usize, u64), u64> = BTreeMap::new();
    for (writer, values) in primary {
        let mut seen_unexpected = BTreeSet::new();
        for v in values {
            match v.parse::<u64>() {
                Ok(seq) if attempted.contains_key(&(*writer, seq)) => {
                    *present.entry((*writer, seq)).or_default() += 1;
                }
                _ => {
                    if seen_unexpected.insert(v.clone()) {
                        a.unexpected += 1;
                    } else {
                        a.duplicated += 1;
                    }
                }
            }
        }
    }
    a.duplicated += present.values().filter(|n| **n > 1).count() as u64;
    let mut lost_times = Vec::new();
    for w in history {
        let here = present.contains_key(&(w.writer, w.seq));
        match (w.outcome, here) {
            (WriteOutcome::Acked, false) => {
                a.lost += 1;
                lost_times.push(ms(w.complete));
                let by = w.node.as_ref().map_or_else(|| "?".to_owned(), name);
                *a.lost_by_node.entry(by).or_default() += 1;
                if a.lost_sample.len() < 10 {
                    a.lost_sample.push(format!("{}:{}", w.writer, w.seq));
                }
            }
            (WriteOutcome::Unknown, true) => a.recovered += 1,
            (WriteOutcome::Failed, true) => a.failed_present += 1,
            _ => {}
        }
    }
    a.lost_span_ms = lost_times
        .iter()
        .min()
        .zip(lost_times.iter().max())
        .map(|(lo, hi)| (*lo, *hi));
    for (node, read) in nodes {
        a.divergence.push(match read {
            Ok(lists) => {
                // A Cluster node holds its own shard's keys only: compare
                // the keys it was read for.
                let mine: Lists = primary
                    .iter()
                    .filter(|(w, _)| lists.contains_key(w))
                    .map(|(w, v)| (*w, v.clone()))
                    .collect();
                let primary_set = value_set(&mine);
                let set = value_set(lists);
                Divergence {
                    node: node.clone(),
                    missing: primary_set.difference(&set).count() as u64,
                    extra: set.difference(&primary_set).count() as u64,
                    error: None,
                }
            }
            Err(e) => Divergence {
                node: node.clone(),
                error: Some(e.clone()),
                ..Divergence::default()
            },
        });
    }
    a
}

/// A node restored from a snapshot, against the writes acked before the
/// snapshot was requested (`persistence.backup-restore`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Restored {
    /// Writes acked before the snapshot was requested: each must be there.
    pub acked_before: u64,
    /// Of those, absent from the restored node.
    pub lost: u64,
    /// Values the restored node holds that no writer ever attempted.
    pub unexpected: u64,
    /// Values the restored node holds (every list).
    pub values: u64,
    /// A few lost writes, `writer:seq`.
    pub lost_sample: Vec<String>,
}

/// Checks a restored node's `lists` against `history`: every write acked
/// (completed) before `cutoff` was executed before the snapshot command, so
/// it must be present; a write still in flight at `cutoff` may or may not
/// be, and one never attempted must not.
pub fn check_restored(history: &[WriteRecord], cutoff: Duration, lists: &Lists) -> Restored {
    let attempted: BTreeSet<(usize, u64)> = history.iter().map(|w| (w.writer, w.seq)).collect();
    let mut present = BTreeSet::new();
    let mut r = Restored::default();
    for (writer, values) in lists {
        for v in values {
            r.values += 1;
            match v.parse::<u64>() {
                Ok(seq) if attempted.contains(&(*writer, seq)) => {
                    present.insert((*writer, seq));
                }
                _ => r.unexpected += 1,
            }
        }
    }
    for w in history
        .iter()
        .filter(|w| w.outcome == WriteOutcome::Acked && w.complete < cutoff)
    {
        r.acked_before += 1;
        if !present.contains(&(w.writer, w.seq)) {
            r.lost += 1;
            if r.lost_sample.len() < 10 {
                r.lost_sample.push(format!("{}:{}", w.writer, w.seq));
            }
        }
    }
    r
}

fn value_set(lists: &Lists) -> BTreeSet<(usize, &str)> {
    lists
        .iter()
        .flat_map(|(w, vs)| vs.iter().map(move |v| (*w, v.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::Addr;

    fn w(writer: usize, seq: u64, outcome: WriteOutcome, at_ms: u64) -> WriteRecord {
        WriteRecord {
            writer,
            seq,
            invoke: Duration::from_millis(at_ms),
            complete: Duration::from_millis(at_ms + 1),
            outcome,
            node: Some(Addr::new("127.0.0.1", 7001)),
            reason: None,
        }
    }

    fn lists(items: &[(usize, &[&str])]) -> Lists {
        items
            .iter()
            .map(|(w, vs)| (*w, vs.iter().map(|s| (*s).to_owned()).collect()))
            .collect()
    }

    fn name(_: &Addr) -> String {
        "n1".into()
    }

    use WriteOutcome::{Acked, Failed, Unknown};

    #[test]
    fn a_clean_history_counts_nothing_wrong() {
        let h = [w(0, 1, Acked, 10), w(0, 2, Acked, 20), w(1, 1, Failed, 30)];
        let p = lists(&[(0, &["1", "2"])]);
        let a = check(&h, &p, &[("n2".into(), Ok(p.clone()))], &name);
        assert_eq!((a.attempted, a.acked, a.failed, a.unknown), (3, 2, 1, 0));
        assert_eq!(
            (
                a.lost,
                a.recovered,
                a.unexpected,
                a.duplicated,
                a.failed_present
            ),
            (0, 0, 0, 0, 0)
        );
        assert_eq!(
            a.divergence[0],
            Divergence {
                node: "n2".into(),
                ..Divergence::default()
            }
        );
        assert_eq!(a.lost_span_ms, None);
    }

    #[test]
    fn acked_values_missing_are_lost_with_their_span_and_node() {
        let h = [
            w(0, 1, Acked, 10),
            w(0, 2, Acked, 20),
            w(0, 3, Acked, 30),
            w(1, 1, Acked, 40),
        ];
        let p = lists(&[(0, &["1"])]);
        let a = check(&h, &p, &[], &name);
        assert_eq!(a.lost, 3);
        assert_eq!(a.lost_span_ms, Some((21, 41)));
        assert_eq!(a.lost_by_node.get("n1"), Some(&3));
        assert_eq!(a.lost_sample, vec!["0:2", "0:3", "1:1"]);
    }

    #[test]
    fn unknown_values_present_are_recovered_and_absent_ones_are_not_lost() {
        let h = [w(0, 1, Unknown, 10), w(0, 2, Unknown, 20)];
        let a = check(&h, &lists(&[(0, &["1"])]), &[], &name);
        assert_eq!((a.unknown, a.recovered, a.lost), (2, 1, 0));
    }

    #[test]
    fn values_never_attempted_are_unexpected() {
        let h = [w(0, 1, Acked, 10)];
        // seq 9 was never sent by writer 0; writer 5 never existed; junk.
        let p = lists(&[(0, &["1", "9", "junk"]), (5, &["1"])]);
        let a = check(&h, &p, &[], &name);
        assert_eq!(a.unexpected, 3);
        assert_eq!(a.lost, 0);
    }

    #[test]
    fn values_present_twice_are_duplicated() {
        let h = [w(0, 1, Acked, 10), w(0, 2, Acked, 20)];
        let p = lists(&[(0, &["1", "1", "2", "2", "2", "x", "x"])]);
        let a = check(&h, &p, &[], &name);
        // 1 and 2 twice or more, and the unexpected `x` twice.
        assert_eq!((a.duplicated, a.unexpected), (3, 1));
    }

    #[test]
    fn failed_values_present_are_reported() {
        let h = [w(0, 1, Failed, 10)];
        let a = check(&h, &lists(&[(0, &["1"])]), &[], &name);
        assert_eq!((a.failed, a.failed_present, a.unexpected), (1, 1, 0));
    }

    #[test]
    fn divergence_counts_both_directions_and_unreadable_nodes() {
        let h = [w(0, 1, Acked, 10), w(0, 2, Acked, 20), w(0, 3, Unknown, 30)];
        let p = lists(&[(0, &["1", "2"])]);
        let stale = lists(&[(0, &["1", "3"])]);
        let a = check(
            &h,
            &p,
            &[
                ("n2".into(), Ok(stale)),
                ("n3".into(), Err("timeout".into())),
            ],
            &name,
        );
        assert_eq!((a.divergence[0].missing, a.divergence[0].extra), (1, 1));
        assert_eq!(a.divergence[1].error.as_deref(), Some("timeout"));
        // Present on a replica only: not recovered (the primary decides).
        assert_eq!(a.recovered, 0);
    }

    #[test]
    fn divergence_compares_only_the_keys_a_node_was_read_for() {
        let h = [w(0, 1, Acked, 10), w(1, 1, Acked, 20)];
        let p = lists(&[(0, &["1"]), (1, &["1"])]);
        // A cluster replica of writer 1's shard.
        let a = check(&h, &p, &[("n4".into(), Ok(lists(&[(1, &["1"])])))], &name);
        assert_eq!((a.divergence[0].missing, a.divergence[0].extra), (0, 0));
    }

    #[test]
    fn a_restore_must_hold_every_write_acked_before_the_snapshot() {
        // Completions at 11, 21, 31, 41 ms; the snapshot was asked for at 25.
        let h = [
            w(0, 1, Acked, 10),
            w(0, 2, Acked, 20),
            w(0, 3, Acked, 30),
            w(1, 1, Unknown, 5),
            w(1, 2, Acked, 40),
        ];
        let cutoff = Duration::from_millis(25);
        let full = check_restored(&h, cutoff, &lists(&[(0, &["1", "2", "3"]), (1, &["1"])]));
        assert_eq!(
            (full.acked_before, full.lost, full.unexpected, full.values),
            (2, 0, 0, 4)
        );
        // An older backup: seq 2 is missing; `7` and writer 9 were never sent.
        let stale = check_restored(&h, cutoff, &lists(&[(0, &["1", "7"]), (9, &["1"])]));
        assert_eq!(
            (
                stale.acked_before,
                stale.lost,
                stale.unexpected,
                stale.values
            ),
            (2, 1, 2, 3)
        );
        assert_eq!(stale.lost_sample, vec!["0:2"]);
        // Nothing restored at all.
        assert_eq!(check_restored(&h, cutoff, &Lists::new()).lost, 2);
    }
}
