//! Goose's configuration for a run: our defaults where the user left
//! Goose's flags alone, so a load test of Redis behaves well out of the box.

use crate::cli::RunConfig;
use goose::config::GooseConfiguration;

/// Goose's configuration for `cfg`: the user's Goose flags plus our
/// defaults. `workloads` is how many scenarios will be registered.
pub fn configure(
    cfg: &RunConfig,
    tls: bool,
    address: &str,
    workloads: usize,
) -> GooseConfiguration {
    let mut config = cfg.args.goose.clone();
    let scheme = if tls { "rediss" } else { "redis" };
    config.host = Some(format!("{scheme}://{address}"));
    // The controllers would listen on fixed ports; parallel runs must not clash.
    config.no_telnet = true;
    if config.verbose == 0 && config.quiet == 0 {
        // Goose logs a line per user at info level: thousands of lines for a
        // large run. Warnings still show; -v brings the rest back.
        config.quiet = 1;
    }
    if !cfg.args.goose_report && config.verbose == 0 {
        // Our table (µs, per operation) is the report; Goose's millisecond
        // tables come with --goose-report or -v, and always in --report-file
        // (Goose writes report files whether or not it prints).
        config.no_print_metrics = true;
    }
    if !cfg.ramp_given {
        // Goose starts one user per second by default: a 100-user run would
        // spend 100 s ramping. Start them within about a second instead,
        // capped so thousands of users do not flood the accept queue.
        let rate = config.users.map_or(100, |u| (u * 10).clamp(100, 1000));
        config.increase_rate = Some(rate.to_string());
    }
    if config.users.is_none() && !cfg.ramp_given {
        // Goose starts one user per CPU by default and gives each user one
        // scenario: with more workloads than users some would never run
        // (three workloads on a 2-core machine left one idle). At least one
        // user per workload.
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        config.users = Some(cpus.max(workloads));
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Parsed};

    fn configured(args: &[&str]) -> GooseConfiguration {
        let mut all = vec!["loadtest"];
        all.extend_from_slice(args);
        let Ok(Parsed::Run(cfg)) = parse(all) else {
            panic!("{args:?} does not parse")
        };
        configure(&cfg, false, "127.0.0.1:6379", 3)
    }

    #[test]
    fn goose_tables_only_on_request() {
        assert!(configured(&[]).no_print_metrics, "one table by default");
        assert!(!configured(&["--goose-report"]).no_print_metrics);
        assert!(!configured(&["-v"]).no_print_metrics);
        let c = configured(&["--report-file", "r.html"]);
        assert_eq!(
            c.report_file,
            vec!["r.html".to_owned()],
            "file still written"
        );
    }

    #[test]
    fn users_and_ramp_defaults() {
        let c = configured(&[]);
        assert!(c.users.unwrap_or(0) >= 3, "one user per workload at least");
        assert_eq!(c.increase_rate.as_deref(), Some("100"));
        assert_eq!(
            configured(&["-u", "5000"]).increase_rate.as_deref(),
            Some("1000")
        );
        assert_eq!(configured(&["-r", "7"]).increase_rate.as_deref(), Some("7"));
        assert_eq!(
            configured(&[]).host.as_deref(),
            Some("redis://127.0.0.1:6379")
        );
    }
}
