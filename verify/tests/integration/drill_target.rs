//! `verify drill --target …`: drilling a deployment this run did not
//! launch. Bad flags are refused with one line and exit 2 before anything
//! is contacted; a Sentinel deployment started separately (the process
//! launcher, as an operator would run it) is drilled only through
//! `--target`, `--allow-disruption` and `--node-control` commands, and
//! reports the same accounting as a launched run, plus the `--plot` SVG.

use super::common::*;
use serde_json::Value;
use std::time::Duration;
use topology::{Launcher, Profile, Topology};

/// Runs verify and asserts exit 2 with one stderr line mentioning `expect`.
fn assert_refused(args: &[&str], expect: &str) {
    let out = verify_bin().args(args).output().expect("run verify");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", all_output(&out));
    assert!(!all_output(&out).contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].contains(expect), "`{}` lacks `{expect}`", lines[0]);
}

// Port 9 (discard) on loopback: nothing is contacted before the flags are
// validated, so these never depend on a server.
const TARGET: &str = "redis://127.0.0.1:9";

#[test]
fn drilling_a_target_needs_allow_disruption() {
    assert_refused(
        &[
            "--target",
            TARGET,
            "drill",
            "--node-control",
            "kill=kill -9 {pid}",
        ],
        "--allow-disruption",
    );
}

#[test]
fn node_control_rejects_unknown_actions_and_malformed_specs() {
    for (spec, expect) in [
        ("explode=rm -rf /", "unknown action `explode`"),
        ("kill", "expected ACTION='command {node}'"),
        ("kill=", "expected ACTION='command {node}'"),
        (
            "kill=docker kill {container}",
            "unknown placeholder `{container}`",
        ),
    ] {
        assert_refused(
            &[
                "--target",
                TARGET,
                "drill",
                "--allow-disruption",
                "--node-control",
                spec,
            ],
            expect,
        );
    }
}

#[test]
fn node_control_without_a_target_is_refused() {
    assert_refused(
        &["drill", "--node-control", "kill=kill -9 {pid}"],
        "existing --target only",
    );
}

fn sentinel_set(rt: &tokio::runtime::Runtime, d: &topology::Deployment, param: &str, value: &str) {
    for s in d.sentinels() {
        rt.block_on(async {
            let mut c = topology::connect(
                &d.node_target(s),
                &topology::Timeouts {
                    connect: Duration::from_secs(2),
                    response: Duration::from_secs(2),
                },
            )
            .await
            .expect("connect to a sentinel");
            let _: () = redis::cmd("SENTINEL")
                .arg(&["SET", "mymaster", param, value][..])
                .query_async(&mut c)
                .await
                .expect("SENTINEL SET");
        });
    }
}

/// The fields every drill result carries in the JSON report.
const FIELDS: &[&str] = &[
    "id",
    "topology",
    "config",
    "writes",
    "lost",
    "recovered",
    "unexpected",
    "duplicated",
    "unavailability_ms",
    "promote_ms",
    "split_brain_ms",
    "timeline",
    "budget",
    "status",
    "evidence",
];

#[test]
fn process_existing_sentinel_is_drilled_through_node_control_commands() {
    let rt = runtime();
    let d = launch_topology(
        &rt,
        Topology::SENTINEL,
        Profile::Hardened,
        Launcher::Process,
    );
    // The operator's part: drill-sized timers on their own Sentinels (the
    // drill reads them and never changes an existing deployment's).
    sentinel_set(&rt, &d, "down-after-milliseconds", "2000");
    sentinel_set(&rt, &d, "failover-timeout", "10000");
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), &d.credentials.as_ref().unwrap().admin);
    let url = sentinel_target_url(&d);
    let svg = dir.path().join("drills.svg");
    let (pw_s, svg_s) = (pw.display().to_string(), svg.display().to_string());
    let (code, report, stderr) = run_json(&[
        "--target",
        &url,
        "--user",
        "admin",
        "--password-file",
        &pw_s,
        "drill",
        "failover.kill-primary",
        "failover.pause-primary",
        "--allow-disruption",
        "--node-control",
        "pause=kill -STOP {pid}",
        "--node-control",
        "cont=kill -CONT {pid}",
        "--plot",
        &svg_s,
    ]);
    let secret = d.credentials.as_ref().unwrap().admin.expose().to_owned();
    assert!(!stderr.contains(&secret) && !report.to_string().contains(&secret));
    let drills = report["drills"].as_array().expect("drills");
    let by_id = |id: &str| -> &Value {
        drills
            .iter()
            .find(|x| x["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing: {report:#}"))
    };
    // No kill command: skipped with the reason, nothing disrupted.
    let kill = by_id("failover.kill-primary");
    assert_eq!(kill["status"], "skip", "{kill:#}");
    assert!(
        kill["message"]
            .as_str()
            .unwrap_or("")
            .contains("--node-control kill"),
        "{kill:#}"
    );
    let pause = by_id("failover.pause-primary");
    eprintln!(
        "existing-target pause: lost {} of {} acked, unavailable {} ms, promoted in {} ms",
        pause["lost"], pause["writes"]["acked"], pause["unavailability_ms"], pause["promote_ms"]
    );
    for f in FIELDS {
        assert!(pause.get(*f).is_some(), "{f} missing: {pause:#}");
    }
    assert_eq!(code, 0, "{stderr}\n{pause:#}");
    assert_eq!(pause["status"], "pass", "{pause:#}");
    assert_eq!(pause["topology"], "sentinel");
    assert!(
        pause["writes"]["acked"].as_u64().unwrap_or(0) > 100,
        "{pause:#}"
    );
    assert!(pause["promote_ms"].as_u64().is_some(), "{pause:#}");
    assert_eq!(
        (pause["unexpected"].as_u64(), pause["duplicated"].as_u64()),
        (Some(0), Some(0))
    );
    // The budget the deployment's own config implies (min-replicas-to-write
    // 1): any loss within the lag window, which the pass already proves.
    assert!(
        pause["budget"]["max_loss_window_ms"].as_u64().is_some(),
        "{pause:#}"
    );
    assert_eq!(pause["config"]["down-after-milliseconds"], "2000");
    let events: Vec<&str> = pause["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    for e in ["fault", "heal", "+switch-master", "first ack after"] {
        assert!(events.contains(&e), "{e} missing: {events:?}");
    }
    let notes = report["notes"].to_string();
    assert!(notes.contains("node-control pause"), "{notes}");
    assert!(notes.contains("node-control resume"), "{notes}");
    // The plot: well-formed SVG with one panel per drill.
    let text = std::fs::read_to_string(&svg).expect("plot written");
    assert_well_formed_svg(&text);
    assert!(text.contains("failover.pause-primary"), "no panel title");
}

/// Parses the whole document: balanced, well-formed XML whose root is
/// `<svg>`, with drawn paths or lines.
pub fn assert_well_formed_svg(text: &str) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut root = None;
    let mut depth = 0i64;
    let mut shapes = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                root.get_or_insert(name.clone());
                depth += 1;
                shapes += usize::from(matches!(name.as_str(), "polyline" | "path" | "line"));
            }
            Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                root.get_or_insert(name.clone());
                shapes += usize::from(matches!(name.as_str(), "polyline" | "path" | "line"));
            }
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("plot is not well-formed XML: {e}"),
        }
        assert!(depth >= 0, "unbalanced tags");
    }
    assert_eq!(depth, 0, "unclosed tags");
    assert_eq!(root.as_deref(), Some("svg"));
    assert!(shapes > 0, "nothing drawn");
}
