//! Every check, one module per family, and the ordered registry.

/// Implements [`Check`] for a unit struct with a `static CheckMeta` and an
/// `async fn evaluate(&self, ctx: &Ctx) -> Outcome` (node-scoped checks) or,
/// with `fleet`, `async fn evaluate(&self, fleet: &Fleet) -> Outcome`
/// (deployment-scoped checks), so each check module holds only what
/// differs: its description and its logic.
macro_rules! check_type {
    ($ty:ident, $meta:ident) => {
        impl crate::check::Check for $ty {
            fn meta(&self) -> &'static crate::check::CheckMeta {
                &$meta
            }
            fn run<'a>(
                &'a self,
                _fleet: &'a crate::fleet::Fleet,
                ctx: &'a crate::ctx::Ctx,
            ) -> crate::check::BoxFuture<'a, crate::check::Outcome> {
                Box::pin(self.evaluate(ctx))
            }
        }
    };
    ($ty:ident, $meta:ident, fleet) => {
        impl crate::check::Check for $ty {
            fn meta(&self) -> &'static crate::check::CheckMeta {
                &$meta
            }
            fn run<'a>(
                &'a self,
                fleet: &'a crate::fleet::Fleet,
                _ctx: &'a crate::ctx::Ctx,
            ) -> crate::check::BoxFuture<'a, crate::check::Outcome> {
                Box::pin(self.evaluate(fleet))
            }
        }
    };
}

mod acl;
mod auth;
mod cluster;
mod config;
mod conn;
mod memory;
pub mod monitoring;
mod net;
mod persistence;
mod repl;
mod sentinel;
mod tls;
mod version;

use crate::check::{Check, Evidence};

/// Every check, in the order they run and are listed. Ids are stable: a
/// removed check's id is never reused.
pub static REGISTRY: &[&dyn Check] = &[
    &conn::Reachable,
    &auth::Required,
    &auth::DefaultUser,
    &acl::DangerousCommands,
    &acl::LeastPrivilege,
    &acl::Scripting,
    &net::ProtectedMode,
    &net::Bind,
    &tls::PlaintextPort,
    &tls::Protocols,
    &tls::Certificate,
    &tls::ClientAuth,
    &tls::Replication,
    &tls::ClusterBus,
    &tls::Unencrypted,
    &config::DebugModuleCommands,
    &config::ProtectedConfigs,
    &config::Timeouts,
    &config::Slowlog,
    &config::LatencyMonitor,
    &persistence::Aof,
    &persistence::Rdb,
    &memory::Maxmemory,
    &memory::EvictionPolicy,
    &version::KnownCves,
    &version::SupportedBranch,
    &repl::Replicas,
    &repl::Link,
    &repl::ReadOnly,
    &repl::Auth,
    &repl::MinReplicas,
    &sentinel::Count,
    &sentinel::Quorum,
    &sentinel::Agree,
    &sentinel::Tilt,
    &sentinel::AuthRequired,
    &sentinel::DenyScriptsReconfig,
    &sentinel::Timers,
    &cluster::State,
    &cluster::Slots,
    &cluster::Replicas,
    &cluster::Spread,
    &cluster::FullCoverage,
    &cluster::NodeTimeout,
    &monitoring::ExporterUp,
    &monitoring::ExporterLeastPrivilege,
    &monitoring::MetricsMatch,
    &monitoring::Dashboards,
    &monitoring::Rules,
];

/// Every check id, for config validation.
pub fn ids() -> Vec<&'static str> {
    REGISTRY.iter().map(|c| c.meta().id).collect()
}

/// Evidence for a `CONFIG GET`.
fn config_evidence(name: &str, value: &str) -> Evidence {
    Evidence::new(format!("CONFIG GET {name}"), value)
}

/// `INFO <section>` and the evidence of `fields` in it, or the error outcome
/// a check returns when INFO itself fails.
async fn info_fields(
    ctx: &crate::ctx::Ctx,
    section: &str,
    fields: &[&str],
) -> Result<(crate::info::Info, Evidence), crate::check::Outcome> {
    let info = match ctx.info(section).await {
        Ok(info) => info,
        Err(e) => return Err(ctx.withheld(&format!("INFO {section}"), &e).await),
    };
    let shown: Vec<String> = fields.iter().map(|f| info.show(f)).collect();
    let evidence = info_evidence(section, &shown);
    Ok((info, evidence))
}

/// Evidence for INFO fields.
fn info_evidence(section: &str, fields: &[String]) -> Evidence {
    Evidence::new(format!("INFO {section}"), fields.join(" "))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers to run a check over captured replies.
    use crate::check::{Check, Outcome};
    use crate::config::Settings;
    use crate::ctx::Captured;

    pub fn run_with(check: &dyn Check, captured: Captured, settings: Settings) -> Outcome {
        let fleet = crate::fleet::Fleet::captured_standalone(captured, settings);
        run_fleet(check, &fleet)
    }

    /// Runs a check over a captured fleet (deployment-scoped checks).
    pub fn run_fleet(check: &dyn Check, fleet: &crate::fleet::Fleet) -> Outcome {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(check.run(fleet, &fleet.data[0].ctx))
    }

    pub fn run(check: &dyn Check, captured: Captured) -> Outcome {
        run_with(check, captured, Settings::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let ids = ids();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "duplicate check id");
        for c in REGISTRY {
            let m = c.meta();
            let (area, name) = m.id.split_once('.').unwrap();
            assert_eq!(area, m.area.as_str(), "{}", m.id);
            assert!(
                name.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'),
                "{}",
                m.id
            );
            assert!(!m.why.is_empty() && !m.remediation.is_empty(), "{}", m.id);
        }
    }

    #[test]
    fn every_check_id_named_in_redis_conf_exists() {
        let ids = ids();
        for line in topology::policy::TEMPLATES
            .iter()
            .flat_map(|(_, text)| text.lines())
        {
            if let Some((_, rest)) = line.split_once("check: ") {
                for id in rest.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    assert!(ids.contains(&id), "redis-conf names unknown check `{id}`");
                }
            } else if let Some(rest) = line.trim_start_matches('#').trim().strip_prefix("acl.") {
                let id = format!("acl.{}", rest.trim_end_matches(',').trim());
                assert!(
                    ids.contains(&id.as_str()),
                    "redis-conf names unknown check `{id}`"
                );
            }
        }
    }
}
