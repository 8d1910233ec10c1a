//! `verify drill [ID…]` and `verify drill list`.

use super::{DrillResult, REGISTRY};
use crate::check::Status;
use crate::cli::{Cli, DrillArgs};
use crate::{emit, exit, fatal, load_settings, report, runner};
use std::io::IsTerminal;
use topology::{Deployment, LaunchOptions};

/// Runs the drill command and returns the exit code.
pub async fn run(cli: &Cli, args: &DrillArgs) -> i32 {
    if args.ids.len() == 1 && args.ids[0] == "list" {
        return match emit(cli, &super::list(REGISTRY)) {
            Ok(()) => exit::PASS,
            Err(e) => fatal(&e),
        };
    }
    let mut settings = match load_settings(cli) {
        Ok(s) => s,
        Err(e) => return fatal(&e),
    };
    let known = super::ids();
    if let Some(id) = settings
        .drills
        .budget
        .keys()
        .find(|id| !known.contains(&id.as_str()))
    {
        return fatal(&format!(
            "failed to validate config: unknown drill id `{id}` in [drills.budget] (see `verify drill list`)"
        ));
    }
    if let Some(id) = args.ids.iter().find(|id| !known.contains(&id.as_str())) {
        return fatal(&format!(
            "failed to find drill `{id}` (see `verify drill list`)"
        ));
    }
    if let Some(n) = args.writers {
        settings.drills.writers = n;
    }
    if args.wait_replicas.is_some() {
        settings.drills.wait_replicas = args.wait_replicas;
    }
    if cli.target.target.is_some() {
        // Never disrupt anything this run did not launch.
        return fatal(if args.allow_disruption {
            "failed to drill an existing --target: --node-control drills are not supported yet; run without --target to drill a launched deployment"
        } else {
            "failed to drill an existing --target: drills kill and cut off nodes; they need --allow-disruption and --node-control (not supported yet), or no --target to drill a launched deployment"
        });
    }
    let options = match LaunchOptions::from_env() {
        Ok(o) => o,
        Err(e) => return fatal(&e.to_string()),
    };
    let topology = cli.target.topology.spec();
    eprintln!(
        "verify: launching the {} deployment to drill",
        topology.kind()
    );
    let mut d = match Deployment::launch(&topology, cli.target.launch.into(), &options).await {
        Ok(d) => d,
        Err(e) => return fatal(&e.to_string()),
    };
    let chosen: Vec<&dyn super::Drill> = REGISTRY
        .iter()
        .copied()
        .filter(|x| args.ids.is_empty() || args.ids.iter().any(|id| id == x.meta().id))
        .collect();
    let mut drills: Vec<DrillResult> = Vec::new();
    for x in &chosen {
        if !super::applies(x.meta(), &topology) && !args.ids.is_empty() {
            drills.push(DrillResult::bare(
                x.meta(),
                topology.kind(),
                Status::Skip,
                format!("applies to {} deployments", x.meta().applies.names()),
            ));
        }
    }
    drills.extend(super::run_drills(&mut d, &chosen, &settings.drills).await);
    let report = runner::Report {
        target: d.service().redacted(),
        launched: Some(d.describe()),
        topology: topology.kind(),
        nodes: d
            .nodes()
            .iter()
            .map(|n| {
                let role = if n.is_sentinel() {
                    crate::fleet::Role::Sentinel
                } else {
                    crate::fleet::Role::Unknown
                };
                (n.id.clone(), role)
            })
            .collect(),
        notes: match topology {
            topology::Topology::Sentinel { .. } => vec![format!(
                "drill timers set on every Sentinel: down-after-milliseconds {}, failover-timeout {}",
                settings.drills.down_after_ms, settings.drills.failover_timeout_ms
            )],
            topology::Topology::Cluster { .. } => vec![format!(
                "drill timer set on every cluster node: cluster-node-timeout {}",
                super::CLUSTER_NODE_TIMEOUT_MS
            )],
            topology::Topology::Standalone => Vec::new(),
        },
        settings,
        results: Vec::new(),
        drills,
    };
    let colour = cli.output.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let text = match cli.format {
        report::Format::Human => report::human::render(&report, colour),
        report::Format::Json => report::json::render(&report),
        report::Format::Junit => report::junit::render(&report),
        report::Format::Sarif => report::sarif::render(&report),
    };
    if let Err(e) = emit(cli, &text) {
        return fatal(&e);
    }
    if cli.output.is_some() || cli.format != report::Format::Human {
        eprintln!("verify: {}", report.summary_line());
    }
    report.exit_code()
}
