//! The registry: every workload, once, in the order listings show them;
//! `--workload` parsing and `loadtest workloads` (and the README's table,
//! checked by a test) come from it.

use super::{cache, getset, idempotency, lock, lockout, ratelimit_fixed};
use super::{ratelimit_sliding, ratelimit_token_bucket, session, Params, Runnable, Variant};
use crate::invariants::{Invariant, Registry};
use std::sync::Arc;
use thiserror::Error;

/// One entry of [`REGISTRY`]: a workload's [`Variant`] and how to build
/// it. The descriptive fields are copied from the variant by [`entry`], so
/// they are never written twice.
pub struct WorkloadInfo {
    /// `--workload` name.
    pub name: &'static str,
    /// What application behaviour it models (one line).
    pub models: &'static str,
    /// Deliberately broken variant, hidden from listings.
    pub hidden: bool,
    /// Invariants it is checked against.
    pub invariants: &'static [Invariant],
    /// The declaration these fields come from.
    pub variant: &'static Variant,
    /// Builds the workload (which must run [`WorkloadInfo::variant`]; the
    /// registry test checks it does).
    pub build: fn(&Params, &Registry) -> Arc<dyn Runnable>,
}

/// A registry line: the variant and its constructor.
const fn entry(
    variant: &'static Variant,
    build: fn(&Params, &Registry) -> Arc<dyn Runnable>,
) -> WorkloadInfo {
    WorkloadInfo {
        name: variant.name,
        models: variant.models,
        hidden: variant.hidden,
        invariants: variant.invariants,
        variant,
        build,
    }
}

/// Every workload, in the order listings show them.
pub static REGISTRY: &[WorkloadInfo] = &[
    entry(&getset::VARIANT, |p, r| Arc::new(getset::GetSet::new(p, r))),
    entry(&ratelimit_fixed::CORRECT, |p, r| {
        Arc::new(ratelimit_fixed::FixedWindow::new(p, r, false))
    }),
    entry(&ratelimit_sliding::CORRECT, |p, r| {
        Arc::new(ratelimit_sliding::SlidingWindow::new(p, r, false))
    }),
    entry(&ratelimit_token_bucket::CORRECT, |p, r| {
        Arc::new(ratelimit_token_bucket::TokenBucket::new(p, r, false))
    }),
    entry(&session::CORRECT, |p, r| {
        Arc::new(session::Sessions::new(p, r, false))
    }),
    entry(&lockout::CORRECT, |p, r| {
        Arc::new(lockout::Lockout::new(p, r, false))
    }),
    entry(&idempotency::CORRECT, |p, r| {
        Arc::new(idempotency::Idempotency::new(p, r, false))
    }),
    entry(&lock::CORRECT, |p, r| {
        Arc::new(lock::Lock::new(p, r, lock::Kind::Correct))
    }),
    entry(&cache::VARIANT, |p, r| Arc::new(cache::Cache::new(p, r))),
    entry(&ratelimit_fixed::BROKEN, |p, r| {
        Arc::new(ratelimit_fixed::FixedWindow::new(p, r, true))
    }),
    entry(&ratelimit_sliding::BROKEN, |p, r| {
        Arc::new(ratelimit_sliding::SlidingWindow::new(p, r, true))
    }),
    entry(&ratelimit_token_bucket::BROKEN, |p, r| {
        Arc::new(ratelimit_token_bucket::TokenBucket::new(p, r, true))
    }),
    entry(&session::BROKEN, |p, r| {
        Arc::new(session::Sessions::new(p, r, true))
    }),
    entry(&lockout::BROKEN, |p, r| {
        Arc::new(lockout::Lockout::new(p, r, true))
    }),
    entry(&idempotency::BROKEN, |p, r| {
        Arc::new(idempotency::Idempotency::new(p, r, true))
    }),
    entry(&lock::NO_NX, |p, r| {
        Arc::new(lock::Lock::new(p, r, lock::Kind::NoNx))
    }),
    entry(&lock::UNSAFE_RELEASE, |p, r| {
        Arc::new(lock::Lock::new(p, r, lock::Kind::UnsafeRelease))
    }),
];

/// A workload chosen on the command line.
#[derive(Clone, Copy)]
pub struct Selected {
    /// Its registry entry.
    pub info: &'static WorkloadInfo,
    /// Goose weight.
    pub weight: usize,
}

/// A `--workload` spec that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    /// Unknown name.
    #[error("unknown workload `{name}`; known: {known}")]
    Unknown {
        /// The name.
        name: String,
        /// The visible names.
        known: String,
    },
    /// Bad weight.
    #[error("workload `{0}`: the weight must be a whole number of at least 1")]
    Weight(String),
    /// Listed twice.
    #[error("workload `{0}` is listed twice")]
    Duplicate(String),
    /// Nothing listed.
    #[error("--workload lists no workload")]
    Empty,
}

/// Parses `NAME[:WEIGHT],…`.
pub fn parse_spec(spec: &str) -> Result<Vec<Selected>, SpecError> {
    let mut out: Vec<Selected> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, weight) = match item.split_once(':') {
            Some((n, w)) => (
                n.trim(),
                w.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|w| *w > 0)
                    .ok_or_else(|| SpecError::Weight(item.to_owned()))?,
            ),
            None => (item, 1),
        };
        let info = REGISTRY
            .iter()
            .find(|w| w.name == name)
            .ok_or_else(|| SpecError::Unknown {
                name: name.to_owned(),
                known: REGISTRY
                    .iter()
                    .filter(|w| !w.hidden)
                    .map(|w| w.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if out.iter().any(|s| s.info.name == name) {
            return Err(SpecError::Duplicate(name.to_owned()));
        }
        out.push(Selected { info, weight });
    }
    if out.is_empty() {
        return Err(SpecError::Empty);
    }
    Ok(out)
}

/// The workload table, generated from [`REGISTRY`].
pub fn listing(include_hidden: bool) -> String {
    let shown = || REGISTRY.iter().filter(move |w| include_hidden || !w.hidden);
    let width = shown().map(|w| w.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for w in shown() {
        let inv = if w.invariants.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = w.invariants.iter().map(|i| i.name()).collect();
            format!(" [checks: {}]", names.join(", "))
        };
        out.push_str(&format!("  {:width$}  {}{inv}\n", w.name, w.models));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn spec_parsing() {
        let s = parse_spec("getset:3, lock").unwrap();
        assert_eq!(
            (s[0].info.name, s[0].weight, s[1].info.name, s[1].weight),
            ("getset", 3, "lock", 1)
        );
        assert!(matches!(parse_spec("nope"), Err(SpecError::Unknown { .. })));
        assert!(matches!(parse_spec("lock:x"), Err(SpecError::Weight(_))));
        assert!(matches!(
            parse_spec("lock,lock"),
            Err(SpecError::Duplicate(_))
        ));
        assert!(matches!(parse_spec(" , "), Err(SpecError::Empty)));
        assert!(
            parse_spec("lock-broken-nx").is_ok(),
            "hidden workloads are selectable"
        );
    }

    #[test]
    fn registry_names_are_unique_ops_prefixed_and_invariants_counted() {
        let p = test_params();
        for (i, w) in REGISTRY.iter().enumerate() {
            assert!(
                REGISTRY[..i].iter().all(|o| o.name != w.name),
                "{} twice",
                w.name
            );
            let reg = Registry::default();
            let built = (w.build)(&p, &reg);
            assert!(
                std::ptr::eq(built.variant(), w.variant),
                "{}: its constructor builds {}",
                w.name,
                built.variant().name
            );
            for op in built.ops() {
                assert!(
                    op.starts_with(&format!("{}:", w.name)),
                    "{op} of {}",
                    w.name
                );
            }
            // The invariants a workload declares are the counters it
            // creates: a checker added without declaring it (or a
            // declaration with no checker) fails here.
            let mut declared = w.invariants.to_vec();
            declared.sort();
            assert_eq!(reg.declared(), declared, "{}", w.name);
        }
        for inv in Invariant::ALL {
            assert!(
                REGISTRY
                    .iter()
                    .any(|w| !w.hidden && w.invariants.contains(&inv)),
                "{inv} is checked by no listed workload"
            );
        }
        assert!(!listing(false).contains("broken"));
        assert!(listing(true).contains("lock-broken-nx"));
    }

    /// Entities each workload's keys are built for: enough that a tag
    /// shared by a whole run would show as one slot.
    const ENTITIES: u64 = 16;

    #[test]
    fn every_step_keeps_its_keys_in_one_slot_and_entities_spread() {
        use crate::keys::{hash_tag, slot};
        use std::collections::{BTreeMap, BTreeSet};
        let reg = Registry::default();
        let p = test_params();
        for w in REGISTRY {
            let built = (w.build)(&p, &reg);
            let ops = built.ops();
            // Slots each operation's keys landed in, over all entities.
            let mut slots: BTreeMap<usize, BTreeSet<u16>> = BTreeMap::new();
            for n in 0..ENTITIES {
                for step in built.step_keys(n) {
                    let name = ops.get(step.op).unwrap_or_else(|| {
                        panic!("{}: step {} is not an operation", w.name, step.op)
                    });
                    let seen = slots.entry(step.op).or_default();
                    for key in &step.keys {
                        assert!(
                            key.starts_with(&p.prefix),
                            "{name}: {key} not under the run prefix"
                        );
                        seen.insert(slot(key.as_bytes()));
                    }
                    let distinct: BTreeSet<&String> = step.keys.iter().collect();
                    if distinct.len() < 2 {
                        continue;
                    }
                    let tags: BTreeSet<_> =
                        step.keys.iter().map(|k| hash_tag(k.as_bytes())).collect();
                    assert!(
                        tags.len() == 1 && !tags.contains(&None),
                        "{name} sends {:?}: keys of one step must share one hash tag",
                        step.keys
                    );
                    let one: BTreeSet<u16> = step.keys.iter().map(|k| slot(k.as_bytes())).collect();
                    assert_eq!(
                        one.len(),
                        1,
                        "{name} sends {:?} over slots {one:?}",
                        step.keys
                    );
                }
            }
            for (op, name) in ops.iter().enumerate() {
                let seen = slots
                    .get(&op)
                    .unwrap_or_else(|| panic!("{}: {name} declares no keys in step_keys", w.name));
                // A step with no key (TIME) has no slot to spread.
                assert!(
                    seen.is_empty() || seen.len() > 1,
                    "{name}: {ENTITIES} entities all in slot {seen:?}"
                );
            }
        }
    }

    #[test]
    fn multi_key_steps_are_the_audited_ones() {
        // The audit's result: the steps that send several keys at once.
        // A workload gaining or losing one shows up here.
        let reg = Registry::default();
        let p = test_params();
        let multi: Vec<&str> = REGISTRY
            .iter()
            .flat_map(|w| {
                let built = (w.build)(&p, &reg);
                let ops = built.ops();
                let mut names: Vec<&str> = Vec::new();
                for step in built.step_keys(0) {
                    if step.keys.len() > 1 && !names.contains(&ops[step.op]) {
                        names.push(ops[step.op]);
                    }
                }
                names
            })
            .collect();
        assert_eq!(
            multi,
            [
                "session:create",
                "session:validate",
                "session:revoke",
                "session:revoke-all",
                "lock:EVALSHA(acquire)",
                "session-broken:create",
                "session-broken:validate",
                "session-broken:revoke",
                "session-broken:revoke-all",
                "lock-broken-nx:EVALSHA(acquire)",
                "lock-broken-release:EVALSHA(acquire)",
            ]
        );
    }

    #[test]
    fn readme_lists_every_workload_as_the_registry_does() {
        let readme = include_str!("../../../README.md");
        for line in listing(false).lines() {
            assert!(
                readme.contains(line),
                "README.md (loadtest section) is missing or has an old line:\n{line}"
            );
        }
    }

    pub(crate) fn test_params() -> Params {
        Params {
            prefix: "lt:test:".into(),
            clients: 4,
            limit: 5,
            window: Duration::from_secs(1),
            keyspace: 100,
            value_size: 8,
            get_ratio: 0.5,
            session_ttl: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(5),
            idempotency_ttl: Duration::from_secs(5),
            locks: 2,
            lock_ttl: Duration::from_secs(1),
            lock_hold: Duration::from_millis(1),
            actions_per_transaction: 4,
        }
    }
}
