//! The JSON report. Other tools parse it: fields are only ever added, and
//! `schema_version` changes when one is removed or changes meaning.
//!
//! ```json
//! {"schema_version":1,"tool_version":"0.1.0","target":"redis://admin:***@host:6379",
//!  "launched":null,"topology":"sentinel",
//!  "nodes":[{"node":"n1","role":"primary"},{"node":"s1","role":"sentinel"}],
//!  "notes":[],"settings":{…},"summary":{"pass":14,"fail":0,"warn":2,"skip":0,"error":0},
//!  "exit_code":0,
//!  "checks":[{"id":"conn.reachable","node":"n1","area":"conn","title":"…","severity":"deny",
//!             "status":"pass","message":"…","evidence":[{"command":"PING","observed":"PONG"}],
//!             "remediation":null,"elapsed_ms":1}]}
//! ```
//!
//! `verify drill` adds `drills`: [{id, topology, status, message, config,
//! writes {attempted, acked, failed, unknown}, lost, recovered, unexpected,
//! duplicated, failed_present, unavailability_ms, promote_ms, stale_acked,
//! split_brain_ms, dual_master_ms, loss_window_ms, lost_by_node,
//! divergence, timeline [{t_ms, event, node, detail}], budget, evidence,
//! elapsed_ms}].
//!
//! `node` is the node a node-scoped result concerns and `null` for
//! deployment-wide checks (`repl.*`, `sentinel.*`, `cluster.*`), whose
//! evidence names the node of each reply.

use crate::runner::Report;
use serde::Serialize;

/// Version of the JSON layout.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct JsonCheck<'a> {
    id: &'a str,
    node: Option<&'a str>,
    area: &'a str,
    title: &'a str,
    severity: &'a str,
    status: &'a str,
    message: &'a str,
    evidence: &'a [crate::check::Evidence],
    remediation: Option<&'a str>,
    elapsed_ms: u128,
}

#[derive(Serialize)]
struct JsonNode<'a> {
    node: &'a str,
    role: crate::fleet::Role,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    tool_version: &'a str,
    target: &'a str,
    launched: Option<&'a str>,
    topology: &'a str,
    nodes: Vec<JsonNode<'a>>,
    notes: &'a [String],
    settings: &'a crate::config::Settings,
    summary: crate::runner::Summary,
    exit_code: i32,
    checks: Vec<JsonCheck<'a>>,
    /// `verify drill` results; absent for a checks run.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    drills: &'a [crate::drill::DrillResult],
}

/// Renders the report as pretty JSON.
pub fn render(report: &Report) -> String {
    let checks = report
        .results
        .iter()
        .map(|r| JsonCheck {
            id: r.meta.id,
            node: r.node.as_deref(),
            area: r.meta.area.as_str(),
            title: r.meta.title,
            severity: r.severity.as_str(),
            status: r.outcome.status.as_str(),
            message: &r.outcome.message,
            evidence: &r.outcome.evidence,
            remediation: (r.outcome.status != crate::check::Status::Pass)
                .then_some(r.meta.remediation),
            elapsed_ms: r.elapsed.as_millis(),
        })
        .collect();
    let doc = JsonReport {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION"),
        target: &report.target,
        launched: report.launched.as_deref(),
        topology: report.topology,
        nodes: report
            .nodes
            .iter()
            .map(|(node, role)| JsonNode { node, role: *role })
            .collect(),
        notes: &report.notes,
        settings: &report.settings,
        summary: report.summary(),
        exit_code: report.exit_code(),
        checks,
        drills: &report.drills,
    };
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_string_pretty(&doc)
        .unwrap_or_else(|e| format!("{{\"error\":\"failed to serialize report: {e}\"}}"))
        + "\n"
}
