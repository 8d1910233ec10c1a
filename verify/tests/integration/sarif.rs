//! `--format sarif` against a live weak server: a valid SARIF 2.1.0 log
//! whose failures carry the levels of their severities.

use super::common::*;
use super::schema::{assert_valid, Schema};
use serde_json::Value;
use topology::{Launcher, Profile};

#[test]
fn sarif_report_of_a_weak_server_validates_and_names_each_failure() {
    let rt = runtime();
    let d = launch(&rt, Profile::Weak, Launcher::Process);
    let out = verify_bin()
        .args([
            "--target",
            &format!("redis://{}", d.target.address()),
            "--format",
            "sarif",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(Schema::Sarif, &log);

    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), verify::checks::REGISTRY.len());
    let results = run["results"].as_array().unwrap();
    let level_of = |id: &str| {
        results
            .iter()
            .find(|r| r["ruleId"] == id)
            .map(|r| (r["kind"].as_str().unwrap(), r["level"].as_str().unwrap()))
    };
    // auth.required is deny-level: an error; config.slowlog is warn-level.
    assert_eq!(level_of("auth.required"), Some(("fail", "error")));
    assert_eq!(level_of("config.slowlog"), Some(("fail", "warning")));
    assert_eq!(level_of("conn.reachable"), Some(("pass", "none")));
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
    }
    assert_eq!(run["invocations"][0]["exitCode"], 1);
}
