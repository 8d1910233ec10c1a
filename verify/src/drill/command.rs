//! `verify drill [ID…]` and `verify drill list`.

use super::{commands, existing, DrillResult, REGISTRY};
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
    let chosen: Vec<&dyn super::Drill> = REGISTRY
        .iter()
        .copied()
        .filter(|x| {
            let id = x.meta().id;
            if args.ids.is_empty() {
                !super::NAMED_ONLY.contains(&id)
            } else {
                args.ids.iter().any(|want| want == id)
            }
        })
        .collect();
    if let Some(url) = &cli.target.target {
        return existing_target(cli, args, url, settings, &chosen).await;
    }
    if !args.node_control.is_empty() || args.allow_disruption {
        return fatal(
            "failed to read the drill flags: --allow-disruption and --node-control apply to an existing --target only (a launched deployment is controlled by its launcher)",
        );
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
        nodes: roles(d.nodes().iter().map(|n| (n.id.clone(), n.is_sentinel()))),
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
    finish(cli, args, &report)
}

fn roles(nodes: impl Iterator<Item = (String, bool)>) -> Vec<(String, crate::fleet::Role)> {
    nodes
        .map(|(id, sentinel)| {
            let role = if sentinel {
                crate::fleet::Role::Sentinel
            } else {
                crate::fleet::Role::Unknown
            };
            (id, role)
        })
        .collect()
}

/// Drills an existing deployment through the user's commands.
async fn existing_target(
    cli: &Cli,
    args: &DrillArgs,
    url: &str,
    mut settings: crate::config::Settings,
    chosen: &[&dyn super::Drill],
) -> i32 {
    // Never disrupt anything without being asked to.
    if !args.allow_disruption {
        return fatal(
            "failed to drill an existing --target: drills kill, pause and cut off nodes; pass --allow-disruption and a --node-control ACTION='command {node}' per action they need (see `verify drill --help`)",
        );
    }
    let actions = match commands::parse(&args.node_control) {
        Ok(a) => a,
        Err(e) => return fatal(&e.to_string()),
    };
    let service = match topology::Service::parse(url, &cli.target.target_options()) {
        Ok(s) => s,
        Err(e) => return fatal(&e.to_string()),
    };
    settings.drills.prometheus = settings.monitoring.as_ref().map(|m| m.prometheus.clone());
    let checks = settings.clone();
    let found = match existing::discover(&service, &checks, &mut settings.drills).await {
        Ok(f) => f,
        Err(e) => return fatal(&e.to_string()),
    };
    let secrets: Vec<topology::Secret> = [
        service.node.password.clone(),
        service.sentinel_password.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut cmds = commands::Commands::new(actions, secrets);
    cmds.learn(&found.nodes, &found.shards, &master_of(&service))
        .await;
    let mut drills: Vec<DrillResult> = Vec::new();
    for x in chosen {
        if !super::applies(x.meta(), &found.topology) && !args.ids.is_empty() {
            drills.push(DrillResult::bare(
                x.meta(),
                found.topology.kind(),
                Status::Skip,
                format!("applies to {} deployments", x.meta().applies.names()),
            ));
        }
    }
    {
        let mut subject = found.subject(&service, &mut cmds);
        drills.extend(super::run_on(&mut subject, chosen, &settings.drills).await);
    }
    let mut notes = found.notes.clone();
    for (what, status) in &cmds.ran {
        notes.push(format!("node-control {what} ({status})"));
    }
    let report = runner::Report {
        target: service.redacted(),
        launched: None,
        topology: found.topology.kind(),
        nodes: roles(found.nodes.iter().map(|n| (n.id.clone(), n.sentinel))),
        notes,
        settings,
        results: Vec::new(),
        drills,
    };
    finish(cli, args, &report)
}

fn master_of(service: &topology::Service) -> String {
    match &service.kind {
        topology::ServiceKind::Sentinel { master, .. } => master.clone(),
        _ => String::new(),
    }
}

/// Renders the report (and the plot) and returns the exit code.
fn finish(cli: &Cli, args: &DrillArgs, report: &runner::Report) -> i32 {
    if let Some(path) = &args.plot {
        let written = super::plot::svg(&report.drills)
            .map_err(|e| e.to_string())
            .and_then(|svg| {
                std::fs::write(path, svg)
                    .map_err(|e| format!("failed to write the plot {}: {e}", path.display()))
            });
        if let Err(e) = written {
            return fatal(&e);
        }
        eprintln!("verify: drill plot written to {}", path.display());
    }
    let colour = cli.output.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let text = match cli.format {
        report::Format::Human => report::human::render(report, colour),
        report::Format::Json => report::json::render(report),
        report::Format::Junit => report::junit::render(report),
        report::Format::Sarif => report::sarif::render(report),
    };
    if let Err(e) = emit(cli, &text) {
        return fatal(&e);
    }
    if cli.output.is_some() || cli.format != report::Format::Human {
        eprintln!("verify: {}", report.summary_line());
    }
    report.exit_code()
}
