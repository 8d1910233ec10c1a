//! `verify`: checks a Redis deployment for production readiness.
//!
//! Each check ([`check::Check`]) has a stable id, evidence for its verdict
//! and a fix that names the `redis-conf/` line, Helm value or Terraform
//! variable. The checks run against a live target or against the hardened
//! deployment the tool launches itself, and report as text, JSON or JUnit.
//!
//! Safety: the verifier never executes a destructive command. Permission
//! probes use `ACL DRYRUN` or `MULTI`/`DISCARD` ([`probe`]); the only keys it
//! writes live under one random prefix per run and carry a TTL.

pub mod caps;
pub mod check;
pub mod checks;
pub mod cli;
pub mod config;
pub mod ctx;
pub mod cves;
pub mod discover;
pub mod docs;
pub mod drill;
pub mod exit;
pub mod fleet;
pub mod info;
pub mod model;
mod monitoring;
pub mod probe;
pub mod prom;
pub mod provider;
pub mod reply;
pub mod report;
pub mod runner;

use clap::Parser;
use cli::{Cli, Command};
use config::Settings;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;
use topology::args::Resolved;
use topology::{LaunchOptions, Timeouts};

/// Runs the CLI with `args` and returns the exit code.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::ERROR
            } else {
                exit::PASS
            };
            let _ = e.print();
            return code;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fatal(&format!("failed to start the async runtime: {e}")),
    };
    runtime.block_on(run(cli))
}

pub(crate) fn fatal(message: &str) -> i32 {
    // One line, whatever the error's source produced.
    eprintln!("verify: error: {}", topology::client::one_line(message));
    exit::ERROR
}

async fn run(cli: Cli) -> i32 {
    if let Some(Command::List { markdown }) = &cli.command {
        let text = if *markdown {
            docs::markdown(checks::REGISTRY)
        } else {
            docs::list(checks::REGISTRY)
        };
        return match emit(&cli, &text) {
            Ok(()) => exit::PASS,
            Err(e) => fatal(&e),
        };
    }
    if let Some(Command::Drill(args)) = &cli.command {
        return drill::command::run(&cli, args).await;
    }
    let mut settings = match load_settings(&cli) {
        Ok(s) => s,
        Err(e) => return fatal(&e),
    };
    if cli.monitoring && cli.target.target.is_some() {
        return fatal("failed to read flags: --monitoring starts a Prometheus next to a launched deployment; with --target give --prometheus URL");
    }
    let timeouts =
        match (secs(cli.connect_timeout), secs(cli.timeout)) {
            (Some(connect), Some(response)) => Timeouts { connect, response },
            _ => return fatal(
                "failed to read timeouts: --connect-timeout and --timeout take positive seconds",
            ),
        };

    let options = match LaunchOptions::from_env() {
        Ok(o) => o,
        Err(e) => return fatal(&e.to_string()),
    };
    if cli.target.target.is_none() {
        eprintln!(
            "verify: no --target given; launching the {} {} deployment",
            match cli.target.launch {
                topology::args::LaunchProfile::Hardened => "hardened",
                topology::args::LaunchProfile::Weak => "weak",
            },
            cli.target.topology.spec().kind(),
        );
    }
    // Keep the launched deployment alive until the report is written.
    let (service, launched, view, _deployment) = match cli.target.resolve(&options).await {
        Ok(Resolved::Existing(s)) => (s, None, None, None),
        Ok(Resolved::Launched(d)) => (
            d.service(),
            Some(d.describe()),
            Some(discover::LaunchedView::of(&d)),
            Some(d),
        ),
        Err(e) => return fatal(&e.to_string()),
    };
    // Kept alive (and stopped) with the deployment.
    let _monitoring = match (&_deployment, cli.monitoring) {
        (Some(d), true) => match monitoring::start(d, &mut settings).await {
            Ok(m) => Some(m),
            Err(e) => return fatal(&e),
        },
        _ => None,
    };
    let fleet = match discover::discover(&service, &timeouts, &settings, view).await {
        Ok(f) => f,
        Err(e) => return fatal(&e),
    };
    let results = runner::run_checks(&fleet, checks::REGISTRY).await;
    let report = runner::Report {
        target: service.redacted(),
        launched,
        topology: fleet.kind.name(),
        nodes: fleet
            .data
            .iter()
            .chain(&fleet.sentinels)
            .map(|m| (m.label.clone(), m.role))
            .chain(
                fleet
                    .unreachable
                    .iter()
                    .map(|(l, _)| (l.clone(), fleet::Role::Unknown)),
            )
            .collect(),
        notes: fleet.notes.clone(),
        settings,
        results,
        drills: Vec::new(),
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
    if let Err(e) = emit(&cli, &text) {
        return fatal(&e);
    }
    if cli.output.is_some() || cli.format != report::Format::Human {
        eprintln!("verify: {}", report.summary_line());
    }
    report.exit_code()
}

fn secs(v: f64) -> Option<Duration> {
    (v.is_finite() && v > 0.0 && v < 3600.0).then(|| Duration::from_secs_f64(v))
}

pub(crate) fn load_settings(cli: &Cli) -> Result<Settings, String> {
    let ids = checks::ids();
    let mut settings = match &cli.config {
        Some(path) => Settings::load(path, &ids).map_err(|e| e.to_string())?,
        None if Path::new("verify.toml").is_file() => {
            Settings::load(Path::new("verify.toml"), &ids).map_err(|e| e.to_string())?
        }
        None => Settings::default(),
    };
    if let Some(w) = cli.workload {
        settings.workload = w;
    }
    if let Some(u) = &cli.app_user {
        settings.app_user = Some(u.clone());
    }
    if let Some(url) = &cli.prometheus {
        settings.monitoring = Some(config::MonitoringSettings {
            prometheus: url.clone(),
            grafana_dir: cli.grafana_dir.clone(),
        });
    }
    Ok(settings)
}

pub(crate) fn emit(cli: &Cli, text: &str) -> Result<(), String> {
    match &cli.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| format!("failed to write {}: {e}", path.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| format!("failed to write the report: {e}"))
        }
    }
}
