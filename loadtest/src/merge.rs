//! `loadtest merge A.json B.json … -o ALL.json`: combines summaries of runs
//! that went side by side (for example one per pod of a Kubernetes Job).
//!
//! The merge is exact: per operation the HDR histograms are added and the
//! percentiles read from the sum, never averaged. Counts, errors, users and
//! invariant violations and late operations add up (service-time
//! histograms too); `duration_s` is the longest part and
//! `ops_per_sec` the sum of the parts, since they ran at the same time. The
//! gates are evaluated again on the merged result.

use crate::summary::{OpSummary, SchemaCheck, Summary, SummaryError, SCHEMA_VERSION};
use crate::{report, slo, EXIT_ERROR, EXIT_PASS, EXIT_SLO_FAILED};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a merge failed.
#[derive(Debug, Error)]
pub enum MergeError {
    /// An input could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An input is not a summary.
    #[error("failed to parse {path} as a loadtest summary: {detail}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// An input has another schema version.
    #[error(
        "failed to merge {path}: schema_version {found}, this loadtest reads {SCHEMA_VERSION}"
    )]
    Schema {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// Histograms could not be combined.
    #[error(transparent)]
    Histogram(#[from] SummaryError),
    /// The gates do not parse.
    #[error(transparent)]
    Slo(#[from] slo::SloError),
    /// The output could not be written.
    #[error("failed to write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Nothing to merge.
    #[error("nothing to merge")]
    Empty,
}

/// The summary files named by `inputs`: files as given, directories as
/// every `*.json` in them (sorted; the output file left out), which is how
/// the parts of a Kubernetes Job sit on its results volume.
pub fn expand_inputs(inputs: &[PathBuf], output: &Path) -> Result<Vec<PathBuf>, MergeError> {
    let mut out = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            out.push(input.clone());
            continue;
        }
        let entries = std::fs::read_dir(input).map_err(|source| MergeError::Read {
            path: input.clone(),
            source,
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p.as_path() != output)
            .collect();
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Runs `merge`: reads `inputs` (files or directories), writes the merged
/// summary to `output`, prints the table, and returns the exit code.
pub fn main(inputs: &[PathBuf], output: &Path, slo_spec: Option<&str>) -> i32 {
    let inputs = match expand_inputs(inputs, output) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("loadtest: {e}");
            return EXIT_ERROR;
        }
    };
    match merge_files(&inputs, slo_spec) {
        Ok(merged) => {
            if let Err(e) = write(output, &merged) {
                eprintln!("loadtest: {e}");
                return EXIT_ERROR;
            }
            print!("{}", report::render(&merged));
            if slo::all_pass(&merged.slo) {
                EXIT_PASS
            } else {
                EXIT_SLO_FAILED
            }
        }
        Err(e) => {
            eprintln!("loadtest: {e}");
            EXIT_ERROR
        }
    }
}

/// Reads a summary file.
pub fn read(path: &Path) -> Result<Summary, MergeError> {
    let text = std::fs::read_to_string(path).map_err(|source| MergeError::Read {
        path: path.to_owned(),
        source,
    })?;
    let check: SchemaCheck = serde_json::from_str(&text).map_err(|e| MergeError::Parse {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    if check.schema_version != SCHEMA_VERSION {
        return Err(MergeError::Schema {
            path: path.to_owned(),
            found: check.schema_version,
        });
    }
    serde_json::from_str(&text).map_err(|e| MergeError::Parse {
        path: path.to_owned(),
        detail: e.to_string(),
    })
}

/// Writes a summary as pretty JSON.
pub fn write(path: &Path, summary: &Summary) -> Result<(), MergeError> {
    let text = serde_json::to_string_pretty(summary).map_err(|e| MergeError::Write {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(path, text + "\n").map_err(|source| MergeError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Reads and merges files, then gates the result with `slo_spec` (default:
/// the first input's gates).
pub fn merge_files(paths: &[PathBuf], slo_spec: Option<&str>) -> Result<Summary, MergeError> {
    let parts = paths
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    merge(&parts, slo_spec)
}

/// Merges summaries exactly and evaluates the gates on the result.
pub fn merge(parts: &[Summary], slo_spec: Option<&str>) -> Result<Summary, MergeError> {
    let first = parts.first().ok_or(MergeError::Empty)?;
    let mut out = first.clone();
    for part in &parts[1..] {
        for (op, theirs) in &part.operations {
            match out.operations.get_mut(op) {
                None => {
                    out.operations.insert(op.clone(), theirs.clone());
                }
                Some(ours) => {
                    let add =
                        |a: Result<Histogram<u64>, SummaryError>,
                         b: Result<Histogram<u64>, SummaryError>| {
                            let mut a = a.map_err(|e| named(e, op))?;
                            a.add(b.map_err(|e| named(e, op))?)
                                .map_err(|e| SummaryError::Add {
                                    op: op.clone(),
                                    detail: format!("{e:?}"),
                                })?;
                            Ok::<_, SummaryError>(a)
                        };
                    let h = add(ours.decode(), theirs.decode())?;
                    // Kept apart only when either part was open loop; else
                    // service time is the latency, as in each part.
                    let service = if ours.has_service() || theirs.has_service() {
                        Some(add(ours.decode_service(), theirs.decode_service())?)
                    } else {
                        None
                    };
                    *ours = OpSummary::new(&h, service.as_ref(), ours.errors + theirs.errors);
                }
            }
        }
        for (name, v) in &part.invariants {
            *out.invariants.entry(name.clone()).or_insert(0) += v;
        }
        for (name, v) in &part.stats {
            *out.stats.entry(name.clone()).or_insert(0.0) += v;
        }
        let (a, b) = (out.ops_total as f64, part.ops_total as f64);
        if a + b > 0.0 {
            let mix = |x: f64, y: f64| (x * a + y * b) / (a + b);
            out.overhead.goose_record_ns_per_op = mix(
                out.overhead.goose_record_ns_per_op,
                part.overhead.goose_record_ns_per_op,
            );
            out.overhead.hdr_record_ns_per_op = mix(
                out.overhead.hdr_record_ns_per_op,
                part.overhead.hdr_record_ns_per_op,
            );
            out.overhead.cpu_user_us_per_op = mix(
                out.overhead.cpu_user_us_per_op,
                part.overhead.cpu_user_us_per_op,
            );
            out.overhead.cpu_sys_us_per_op = mix(
                out.overhead.cpu_sys_us_per_op,
                part.overhead.cpu_sys_us_per_op,
            );
        }
        out.late_ops += part.late_ops;
        out.users += part.users;
        out.duration_s = out.duration_s.max(part.duration_s);
        out.ops_per_sec += part.ops_per_sec;
        out.merged_from += part.merged_from;
        out.ops_total += part.ops_total;
        out.workload = join_distinct(&out.workload, &part.workload);
        out.target = join_distinct(&out.target, &part.target);
    }
    recompute_ratios(&mut out.stats);
    out.refresh_totals()?;
    let spec = slo_spec
        .map(str::to_owned)
        .unwrap_or_else(|| first.slo_spec.clone());
    out.slo = slo::evaluate(&slo::parse(&spec)?, &out);
    out.slo_spec = spec;
    Ok(out)
}

fn named(e: SummaryError, op: &str) -> SummaryError {
    match e {
        SummaryError::Decode { detail, .. } => SummaryError::Decode {
            op: op.to_owned(),
            detail,
        },
        other => other,
    }
}

fn join_distinct(a: &str, b: &str) -> String {
    if a.split(" + ").any(|x| x == b) {
        a.to_owned()
    } else {
        format!("{a} + {b}")
    }
}

/// `X_ratio` stats are not additive: recompute them from `X_hits` and
/// `X_misses` after the counts were added.
pub fn recompute_ratios(stats: &mut BTreeMap<String, f64>) {
    let ratios: Vec<String> = stats
        .keys()
        .filter(|k| k.ends_with("_ratio"))
        .cloned()
        .collect();
    for key in ratios {
        let base = key.trim_end_matches("_ratio").trim_end_matches("_hit");
        let hits = stats.get(&format!("{base}_hits")).copied();
        let misses = stats.get(&format!("{base}_misses")).copied();
        if let (Some(h), Some(m)) = (hits, misses) {
            let ratio = if h + m > 0.0 { h / (h + m) } else { 0.0 };
            stats.insert(key, ratio);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{new_histogram, tests::summary_with};

    #[test]
    fn merge_equals_one_histogram_of_both_samples() {
        let a: Vec<u64> = (1..=5000).map(|i| i * 7 % 3001 + 20).collect();
        let b: Vec<u64> = (1..=3000).map(|i| i * 13 % 90_001 + 500).collect();
        let mut sa = summary_with(&a, 3, &[("over_admissions", 1)]);
        let sb = summary_with(&b, 4, &[("over_admissions", 2)]);
        sa.stats.insert("cache_hits".into(), 30.0);
        sa.stats.insert("cache_misses".into(), 10.0);
        sa.stats.insert("cache_hit_ratio".into(), 0.75);
        let merged = merge(
            &[sa.clone(), sb.clone()],
            Some("p99<100ms,over_admissions==0"),
        )
        .unwrap();

        let mut both = new_histogram();
        for v in a.iter().chain(&b) {
            both.record(*v).unwrap();
        }
        let op = &merged.operations["getset:GET"];
        assert_eq!(op.decode().unwrap(), both, "histograms add exactly");
        assert_eq!(op.latency_us, crate::summary::Percentiles::of(&both));
        assert_eq!(merged.latency_us.p999, both.value_at_quantile(0.999));
        assert_eq!((op.count, op.errors), (8007, 7));
        assert_eq!((merged.ops_total, merged.errors_total), (8007, 7));
        assert_eq!(merged.invariants["over_admissions"], 3);
        assert_eq!(merged.users, 2);
        assert_eq!(merged.merged_from, 2);
        assert_eq!(merged.ops_per_sec, sa.ops_per_sec + sb.ops_per_sec);
        assert_eq!(
            merged.stats["cache_hit_ratio"], 0.75,
            "ratio recomputed, not summed"
        );
        assert!(merged.slo["p99<100ms"].pass);
        assert!(!merged.slo["over_admissions==0"].pass);
    }

    #[test]
    fn merge_reads_and_writes_files() {
        let dir = tempfile::tempdir().unwrap();
        let (pa, pb, out) = (
            dir.path().join("a.json"),
            dir.path().join("b.json"),
            dir.path().join("all.json"),
        );
        write(&pa, &summary_with(&[10, 20], 0, &[])).unwrap();
        write(&pb, &summary_with(&[30], 0, &[])).unwrap();
        let both = vec![pa.clone(), pb];
        assert_eq!(main(&both, &out, Some("max<=30us")), EXIT_PASS);
        assert_eq!(read(&out).unwrap().ops_total, 3);
        // A directory stands for the summaries in it, the output left out.
        let from_dir = vec![dir.path().to_owned()];
        assert_eq!(
            expand_inputs(&from_dir, &out).unwrap(),
            vec![pa.clone(), dir.path().join("b.json")]
        );
        assert_eq!(main(&from_dir, &out, Some("max<=30us")), EXIT_PASS);
        assert_eq!(
            read(&out).unwrap().ops_total,
            3,
            "all.json not merged into itself"
        );
        assert_eq!(main(&both, &out, Some("max<30us")), EXIT_SLO_FAILED);
        std::fs::write(&pa, "{\"schema_version\": 99}").unwrap();
        assert!(matches!(
            read(&pa),
            Err(MergeError::Schema { found: 99, .. })
        ));
        assert_eq!(
            main(&[dir.path().join("nope.json")], &out, None),
            EXIT_ERROR
        );
    }
}
