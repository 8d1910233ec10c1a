//! Load tests that behave like the application patterns Redis serves.
//!
//! `loadtest` runs [Goose](https://book.goose.rs) users whose transactions
//! call Redis directly through redis-rs: rate limiters (fixed window, sliding
//! window, token bucket), sessions, login lockout, idempotency keys, a lock
//! with fencing, cache-aside, and raw GET/SET for comparison with
//! `redis-benchmark`. While the load runs it
//!
//! - times every Redis round trip in microseconds and records it both into
//!   Goose's metrics (so `--report-file` reports show Redis operations) and
//!   into our own HDR histograms ([`metrics`]);
//! - checks correctness invariants shared by all users ([`invariants`]): a
//!   rate limiter never admits more than its limit, a lock is never held
//!   twice, an idempotency key is accepted once, a live session never goes
//!   missing;
//! - gates the result on SLOs ([`slo`]) and writes a versioned, mergeable
//!   summary ([`summary`], [`merge`]);
//! - runs closed loop (each user back to back) or open loop at a fixed
//!   rate ([`pacing`]), where latency counts from each request's intended
//!   start and the service time is kept beside it;
//! - measures its own CPU per operation ([`cpu`]).
//!
//! Exit codes: [`EXIT_PASS`], [`EXIT_SLO_FAILED`], [`EXIT_ERROR`].

mod cleanup;
pub mod cli;
pub mod conn;
pub mod cpu;
pub mod duration;
pub mod goose_tuning;
pub mod invariants;
pub mod keys;
pub mod merge;
pub mod metrics;
pub mod pacing;
pub mod params;
pub mod plot;
pub mod progress;
pub mod report;
pub mod run;
pub mod shared;
pub mod slo;
pub mod summary;
pub mod workloads;

use std::ffi::OsString;

/// Every SLO gate held.
pub const EXIT_PASS: i32 = 0;
/// The run completed and at least one SLO gate failed.
pub const EXIT_SLO_FAILED: i32 = 1;
/// Usage, configuration, launch or connection error: nothing was measured.
pub const EXIT_ERROR: i32 = 2;

/// Runs the command line and returns the process exit code.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let parsed = match cli::parse(args) {
        Ok(parsed) => parsed,
        Err(cli::ParseOutcome::Exit(code)) => return code,
        Err(cli::ParseOutcome::Usage(message)) => {
            eprintln!("loadtest: {message}");
            return EXIT_ERROR;
        }
    };
    match parsed {
        cli::Parsed::Merge(args) => merge::main(&args.inputs, &args.output, args.slo.as_deref()),
        cli::Parsed::Workloads => {
            print!("{}", workloads::listing(false));
            EXIT_PASS
        }
        cli::Parsed::Run(args) => run::main(*args),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The crate's top-level modules and the ones each uses outside its
    /// tests (`crate::name`, `crate::{a, b}`), read from the sources.
    fn module_uses() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files: Vec<_> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        files.extend(
            std::fs::read_dir(src.join("workloads"))
                .unwrap()
                .map(|e| e.unwrap().path()),
        );
        let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let top = |p: &Path| -> String {
            if p.parent().is_some_and(|d| d.ends_with("workloads")) {
                "workloads".into()
            } else {
                p.file_stem().unwrap().to_string_lossy().into_owned()
            }
        };
        let names: BTreeSet<String> = files.iter().map(|p| top(p)).collect();
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let me = top(path);
            let entry = uses.entry(me.clone()).or_default();
            for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
                for part in line.split("crate::").skip(1) {
                    let used: Vec<&str> = match part.strip_prefix('{') {
                        Some(group) => group.split(['}', ',']).map(str::trim).collect(),
                        None => vec![part],
                    };
                    for u in used {
                        let name: String = u
                            .chars()
                            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                            .collect();
                        if name != me && names.contains(&name) {
                            entry.insert(name);
                        }
                    }
                }
            }
        }
        uses
    }

    /// The review found cycles (cli ↔ workloads ↔ run ↔ conn ↔ merge;
    /// summary ↔ slo); the modules now form a DAG and this keeps it so.
    #[test]
    fn modules_have_no_import_cycles() {
        let uses = module_uses();
        assert!(uses["run"].contains("cli"), "the reader sees uses");
        fn visit<'a>(
            m: &'a str,
            uses: &'a BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) {
            if let Some(at) = path.iter().position(|p| *p == m) {
                panic!("import cycle: {} -> {m}", path[at..].join(" -> "));
            }
            if !done.insert(m) {
                return;
            }
            path.push(m);
            for next in uses.get(m).into_iter().flatten() {
                visit(next, uses, path, done);
            }
            path.pop();
        }
        let mut done = BTreeSet::new();
        for m in uses.keys() {
            visit(m, &uses, &mut Vec::new(), &mut done);
        }
    }

    /// Clap stays at the edge: only `cli` names it.
    #[test]
    fn only_cli_uses_clap() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for dir in [src.clone(), src.join("workloads")] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("cli.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                assert!(
                    !code.contains("use clap") && !code.contains("clap::"),
                    "{} uses clap",
                    path.display()
                );
            }
        }
    }
}
