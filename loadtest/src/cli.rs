//! The command line: our flags, Goose's own flags flattened in, and the
//! `merge` and `workloads` subcommands. Everything a user can get wrong is
//! validated here, before any connection or user starts.

use crate::conn::ConnectionMode;
use crate::slo::{self, Gate};
use crate::workloads::{self, Selected};
use crate::EXIT_PASS;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use goose::config::GooseConfiguration;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// SLO gates used when `--slo` is not given: correctness is always gated.
pub const DEFAULT_SLO: &str = "invariants==0";

const AFTER_HELP: &str = "\
Examples:
  loadtest --workload ratelimit-sliding -u 100 -t 20s --summary-json out.json
  loadtest --topology cluster --workload ratelimit-sliding,session,lock -t 10s
  loadtest --target redis+sentinel://10.0.0.5:26379,10.0.0.6:26379/mymaster --user app --password-file pw -t 1m
  loadtest --target redis://10.0.0.5:6379 --user app --password-file pw \\
           --workload getset:3,session:1 -u 200 -r 50 -t 5m --slo 'p99<2ms,errors<0.1%'
  loadtest merge a.json b.json -o all.json
  loadtest workloads

Exit codes: 0 every SLO holds, 1 an SLO failed, 2 usage, launch or connection error.";

/// `loadtest`: Redis load tests with invariants and SLO gates.
#[derive(Parser, Clone)]
#[command(
    name = "loadtest",
    args_conflicts_with_subcommands = true,
    args_override_self = true,
    disable_version_flag = true,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// What to do instead of a load test.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The load test's flags.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Subcommand, Clone, Debug)]
pub enum Command {
    /// Merge summary files exactly (histograms added, never percentiles averaged).
    Merge(MergeArgs),
    /// List the workloads and what application behaviour each models.
    Workloads,
}

/// `loadtest merge A.json B.json … -o ALL.json`.
#[derive(Args, Clone, Debug)]
pub struct MergeArgs {
    /// Summary files written by `--summary-json`, or directories holding them
    #[arg(required = true, value_name = "SUMMARY|DIR")]
    pub inputs: Vec<PathBuf>,
    /// Where to write the merged summary.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Gates for the merged result; default: the gates of the first input.
    #[arg(long, value_name = "GATES")]
    pub slo: Option<String>,
}

/// `--connection`: how users reach Redis.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionFlag {
    /// One connection per Goose user (what an application pod pool looks like).
    PerUser,
    /// One multiplexed connection shared by every user (redis-rs pipelines them).
    Shared,
}

impl From<ConnectionFlag> for ConnectionMode {
    fn from(flag: ConnectionFlag) -> Self {
        match flag {
            ConnectionFlag::PerUser => Self::PerUser,
            ConnectionFlag::Shared => Self::Shared,
        }
    }
}

/// Flags of a load test run.
#[derive(Args, Clone)]
pub struct RunArgs {
    /// Target, credential, TLS and launch flags (shared with verify).
    /// Without --target loadtest launches --topology from the policy and runs
    /// as its `app` user.
    #[command(flatten)]
    pub target: topology::args::TargetArgs,
    /// How users reach Redis
    #[arg(long, value_enum, default_value_t = ConnectionFlag::PerUser, help_heading = "Target")]
    pub connection: ConnectionFlag,

    /// Workloads with Goose weights, such as getset:3,session:1 (see `loadtest workloads`)
    #[arg(
        long,
        value_name = "NAME[:WEIGHT],…",
        default_value = "getset",
        help_heading = "Workload"
    )]
    pub workload: String,
    /// Distinct rate-limit clients, accounts and idempotency senders users share
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Workload")]
    pub clients: u64,
    /// Requests a rate-limit client may make per window; failed logins before lockout
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Workload")]
    pub limit: u64,
    /// Rate-limit and lockout window
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = crate::duration::positive_duration, help_heading = "Workload")]
    pub window: Duration,
    /// Keys in the getset and cache key spaces
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Workload")]
    pub keyspace: u64,
    /// Bytes per value written by getset and cache
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 64,
        help_heading = "Workload"
    )]
    pub value_size: usize,
    /// Fraction of getset operations that are GET (the rest SET)
    #[arg(long, value_name = "F", default_value_t = 0.5, value_parser = ratio, help_heading = "Workload")]
    pub get_ratio: f64,
    /// Session lifetime, renewed by each validation
    #[arg(long, value_name = "TIME", default_value = "30s", value_parser = crate::duration::positive_duration, help_heading = "Workload")]
    pub session_ttl: Duration,
    /// Cache entry lifetime
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = crate::duration::positive_duration, help_heading = "Workload")]
    pub cache_ttl: Duration,
    /// How long an idempotency key rejects duplicates
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = crate::duration::positive_duration, help_heading = "Workload")]
    pub idempotency_ttl: Duration,
    /// Distinct lock names users contend for
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Workload")]
    pub locks: u64,
    /// Lock lease (PX)
    #[arg(long, value_name = "TIME", default_value = "2s", value_parser = crate::duration::positive_duration, help_heading = "Workload")]
    pub lock_ttl: Duration,
    /// Mean time a holder keeps the lock (uniform in 0..2×TIME)
    #[arg(long, value_name = "TIME", default_value = "1ms", value_parser = crate::duration::any_duration, help_heading = "Workload")]
    pub lock_hold: Duration,
    /// Application actions each Goose transaction runs back to back
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Workload")]
    pub actions_per_transaction: u32,

    /// Open loop: application actions per second over all users, each with an intended start; latency counts from it
    #[arg(long, value_name = "OPS/s", value_parser = positive_rate, conflicts_with = "think_time", help_heading = "Pacing")]
    pub rate: Option<f64>,
    /// Open loop: each user starts one action every TIME (a rate of users / TIME)
    #[arg(long, value_name = "TIME", value_parser = crate::duration::positive_duration, help_heading = "Pacing")]
    pub think_time: Option<Duration>,

    /// Gates, such as 'p99<2ms,errors<0.1%,over_admissions==0' ('none' for no gate) [default: invariants==0]
    #[arg(long, value_name = "GATES", help_heading = "Gates and output")]
    pub slo: Option<String>,
    /// Write the versioned, mergeable summary here
    #[arg(long, value_name = "FILE", help_heading = "Gates and output")]
    pub summary_json: Option<PathBuf>,
    /// No progress display (one updating line on a terminal, a line every 5 s otherwise)
    #[arg(long, help_heading = "Gates and output")]
    pub no_progress: bool,
    /// Draw latency percentiles per operation and throughput over time into this SVG file
    #[arg(long, value_name = "FILE.svg", help_heading = "Gates and output")]
    pub plot: Option<PathBuf>,
    /// Also print Goose's own tables (always in --report-file; -v prints them too)
    #[arg(long, help_heading = "Gates and output")]
    pub goose_report: bool,
    /// Leave the run's keys on a --target instead of removing them at the end
    #[arg(long, help_heading = "Gates and output")]
    pub keep_keys: bool,
    /// Runtime worker threads [default: one per CPU, one fewer when Redis runs on this machine]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..256), help_heading = "Gates and output")]
    pub threads: Option<u64>,
    /// Per-user connection client: lean (one socket per user, no driver task) or redis-rs; TLS and Cluster always use redis-rs
    #[arg(long, value_name = "DRIVER", default_value = "lean", value_parser = crate::conn::Driver::parse, help_heading = "Gates and output")]
    pub driver: crate::conn::Driver,

    /// Goose's own flags (-u, -r, -t, --report-file, …).
    #[command(flatten)]
    pub goose: GooseConfiguration,
}

/// A validated run: flags plus the parsed workload list and gates.
pub struct RunConfig {
    /// The raw flags.
    pub args: RunArgs,
    /// The workloads and their weights.
    pub workloads: Vec<Selected>,
    /// The SLO gates.
    pub gates: Vec<Gate>,
    /// The gate text as given (or the default).
    pub slo_spec: String,
    /// Whether the user set how users ramp up (so we leave it alone).
    pub ramp_given: bool,
}

/// What the command line asks for.
pub enum Parsed {
    /// A load test.
    Run(Box<RunConfig>),
    /// `merge`.
    Merge(MergeArgs),
    /// `workloads`.
    Workloads,
}

/// Why no [`Parsed`] came out.
#[derive(Debug)]
pub enum ParseOutcome {
    /// Help was printed; exit with this code.
    Exit(i32),
    /// A usage error, in one line.
    Usage(String),
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!(
            "`{text}` is not a rate above 0 (operations per second)"
        )),
    }
}

fn ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("`{text}` is not a fraction between 0 and 1")),
    }
}

/// Parses and validates a command line (the first item is the program name).
pub fn parse<I, T>(args: I) -> Result<Parsed, ParseOutcome>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let command = Cli::command().after_long_help(format!(
        "{AFTER_HELP}\n\nWorkloads:\n{}",
        workloads::listing(false)
    ));
    let matches = match command.try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => return Err(clap_failure(&e)),
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| clap_failure(&e))?;
    match cli.command {
        Some(Command::Merge(m)) => return Ok(Parsed::Merge(m)),
        Some(Command::Workloads) => return Ok(Parsed::Workloads),
        None => {}
    }
    let args = cli.run;
    let workloads =
        workloads::parse_spec(&args.workload).map_err(|e| ParseOutcome::Usage(e.to_string()))?;
    let slo_spec = args.slo.clone().unwrap_or_else(|| DEFAULT_SLO.to_owned());
    let gates = slo::parse(&slo_spec).map_err(|e| ParseOutcome::Usage(e.to_string()))?;
    if args.target.tls_cert.is_some() != args.target.tls_key.is_some() {
        return Err(ParseOutcome::Usage(
            "a client certificate needs both --tls-cert and --tls-key".into(),
        ));
    }
    if args.target.target.is_none()
        && (args.target.user.is_some() || args.target.password_file.is_some())
    {
        return Err(ParseOutcome::Usage(
            "--user and --password-file need --target; without it loadtest launches its own server"
                .into(),
        ));
    }
    let given = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        )
    };
    let ramp_given = given("increase_rate") || given("increase_time") || given("test_plan");
    Ok(Parsed::Run(Box::new(RunConfig {
        args,
        workloads,
        gates,
        slo_spec,
        ramp_given,
    })))
}

fn clap_failure(e: &clap::Error) -> ParseOutcome {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ParseOutcome::Exit(EXIT_PASS)
        }
        _ => {
            let text = e.to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_owned();
            ParseOutcome::Usage(format!("{first} (see loadtest --help)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Box<RunConfig>, ParseOutcome> {
        let mut all = vec!["loadtest"];
        all.extend_from_slice(args);
        match parse(all)? {
            Parsed::Run(c) => Ok(c),
            _ => panic!("expected a run"),
        }
    }

    fn usage(args: &[&str]) -> String {
        match run(args) {
            Err(ParseOutcome::Usage(m)) => m,
            Err(ParseOutcome::Exit(c)) => panic!("exit {c}"),
            Ok(_) => panic!("{args:?} parsed"),
        }
    }

    #[test]
    fn command_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn goose_flags_are_flattened_in() {
        let c = run(&[
            "-u",
            "7",
            "-t",
            "3s",
            "--report-file",
            "r.html",
            "--workload",
            "lock:2,getset",
        ])
        .unwrap();
        assert_eq!(c.args.goose.users, Some(7));
        assert_eq!(c.args.goose.run_time.as_deref(), Some("3s"));
        assert_eq!(c.args.goose.report_file, vec!["r.html".to_owned()]);
        assert_eq!(c.workloads.len(), 2);
        assert_eq!(c.workloads[0].weight, 2);
        assert_eq!(c.slo_spec, DEFAULT_SLO);
        assert!(!c.ramp_given);
        assert!(run(&["-r", "5"]).unwrap().ramp_given);
    }

    #[test]
    fn bad_flags_are_one_line_usage_errors() {
        for bad in [
            vec!["--frobnicate"],
            vec!["--workload", "nope"],
            vec!["--workload", "getset:0"],
            vec!["--slo", "p99<<2ms"],
            vec!["--window", "soon"],
            vec!["--get-ratio", "1.5"],
            vec!["--limit", "0"],
            vec!["--connection", "pooled"],
            vec!["--user", "app"],
            vec!["--target", "redis://h", "--tls-cert", "c.pem"],
        ] {
            let m = usage(&bad);
            assert!(!m.contains('\n'), "{bad:?}: {m}");
            assert!(!m.is_empty());
        }
        assert!(
            usage(&["--workload", "nope"]).contains("getset"),
            "lists the known names"
        );
    }

    #[test]
    fn help_exits_zero() {
        assert!(matches!(
            parse(["loadtest", "--help"]),
            Err(ParseOutcome::Exit(0))
        ));
    }

    #[test]
    fn merge_subcommand() {
        match parse(["loadtest", "merge", "a.json", "b.json", "-o", "all.json"]) {
            Ok(Parsed::Merge(m)) => {
                assert_eq!(m.inputs.len(), 2);
                assert_eq!(m.output, PathBuf::from("all.json"));
            }
            _ => panic!("expected merge"),
        }
    }
}
