//! Reads Grafana dashboard JSON into what `monitoring.dashboards` runs: the
//! datasource variable's default uid, `label_values` variables, and every
//! panel query with the row it sits in; expands template variables.

use serde_json::Value;
use std::collections::BTreeMap;

/// What `$__rate_interval`, `$__interval` and `$__range` become: a window
/// that holds several samples at the scrape intervals the project uses
/// (15 s compose, 1 s launched).
const BUILTINS: &[(&str, &str)] = &[
    ("__rate_interval", "1m"),
    ("__interval", "15s"),
    ("__range", "1h"),
];

/// A `label_values(selector, label)` variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Its name (`instance` for `$instance`).
    pub name: String,
    /// The series selector.
    pub selector: String,
    /// The label whose values it takes.
    pub label: String,
}

/// One query of one panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Title of the row the panel sits in ("" before the first row).
    pub row: String,
    /// Panel title.
    pub panel: String,
    /// Grafana's refId (A, B, …).
    pub ref_id: String,
    /// PromQL with template variables.
    pub expr: String,
}

/// A dashboard as the check sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Board {
    /// Its uid.
    pub uid: String,
    /// Its title.
    pub title: String,
    /// Default uid of the `datasource` variable, if it has one.
    pub datasource: Option<String>,
    /// `label_values` variables.
    pub variables: Vec<Variable>,
    /// Variables of another kind (they cannot be resolved through Prometheus).
    pub unsupported: Vec<String>,
    /// Every panel query.
    pub queries: Vec<Query>,
}

impl Board {
    /// Parses dashboard JSON.
    pub fn parse(text: &str) -> Result<Self, String> {
        let json: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let str_of = |v: &Value| v.as_str().unwrap_or("").to_owned();
        let mut board = Board {
            uid: str_of(&json["uid"]),
            title: str_of(&json["title"]),
            datasource: None,
            variables: Vec::new(),
            unsupported: Vec::new(),
            queries: Vec::new(),
        };
        for v in json["templating"]["list"].as_array().into_iter().flatten() {
            let name = str_of(&v["name"]);
            match v["type"].as_str() {
                Some("datasource") => {
                    board.datasource = v["current"]["value"].as_str().map(str::to_owned)
                }
                Some("query") => {
                    let def = v["query"]["query"]
                        .as_str()
                        .or(v["query"].as_str())
                        .unwrap_or("");
                    match parse_label_values(def) {
                        Some((selector, label)) => board.variables.push(Variable {
                            name,
                            selector,
                            label,
                        }),
                        None => board.unsupported.push(format!("${name}: {def}")),
                    }
                }
                _ => {}
            }
        }
        let mut row = String::new();
        let add = |p: &Value, row: &str, queries: &mut Vec<Query>| {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str().filter(|e| !e.trim().is_empty()) {
                    queries.push(Query {
                        row: row.to_owned(),
                        panel: str_of(&p["title"]),
                        ref_id: str_of(&t["refId"]),
                        expr: expr.to_owned(),
                    });
                }
            }
        };
        for p in json["panels"].as_array().into_iter().flatten() {
            if p["type"] == "row" {
                row = str_of(&p["title"]);
                for inner in p["panels"].as_array().into_iter().flatten() {
                    add(inner, &row, &mut board.queries);
                }
            } else {
                add(p, &row, &mut board.queries);
            }
        }
        Ok(board)
    }
}

/// `label_values(selector, label)` → (selector, label).
fn parse_label_values(def: &str) -> Option<(String, String)> {
    let inner = def
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    let label = label.trim();
    (!label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| (selector.trim().to_owned(), label.to_owned()))
}

/// Regex alternation of `values` as Grafana's "All" with a `=~` matcher
/// would send it, metacharacters escaped.
pub fn alternation(values: &[String]) -> String {
    let escaped: Vec<String> = values
        .iter()
        .map(|v| {
            v.chars()
                .flat_map(|c| {
                    if "\\.+*?()|[]{}^$".contains(c) {
                        vec!['\\', '\\', c]
                    } else {
                        vec![c]
                    }
                })
                .collect()
        })
        .collect();
    format!("({})", escaped.join("|"))
}

/// `expr` with `$name`, `${name}` and `[[name]]` replaced by `values[name]`
/// and the built-in intervals; longer names first so `$instance_x` is not
/// cut at `$instance`.
pub fn expand(expr: &str, values: &BTreeMap<String, String>) -> String {
    let mut all: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend(BUILTINS.iter().copied());
    all.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    let mut out = expr.to_owned();
    for (name, value) in all {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("[[{name}]]"), value)
            .replace(&format!("${name}"), value);
    }
    out
}

/// Variables left unexpanded (`$x` that is not a PromQL `$` in a string).
pub fn leftover_variable(expr: &str) -> Option<String> {
    let i = expr.find('$')?;
    let name: String = expr[i + 1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '{')
        .collect();
    (!name.is_empty()).then(|| format!("${name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOARD: &str = r#"{"uid":"u","title":"T","templating":{"list":[
      {"name":"datasource","type":"datasource","query":"prometheus","current":{"value":"redis-prometheus"}},
      {"name":"instance","type":"query","query":{"query":"label_values(redis_up{job=\"redis\"}, instance)"}},
      {"name":"odd","type":"query","query":"query_result(up)"}]},
      "panels":[{"type":"stat","title":"Up","targets":[{"refId":"A","expr":"redis_up{instance=~\"$instance\"}"}]},
      {"type":"row","title":"Sentinel","panels":[]},
      {"type":"timeseries","title":"Tilt","targets":[{"refId":"A","expr":"redis_sentinel_tilt"},{"refId":"B","expr":" "}]}]}"#;

    #[test]
    fn parses_variables_and_queries_with_their_rows() {
        let b = Board::parse(BOARD).unwrap();
        assert_eq!(b.datasource.as_deref(), Some("redis-prometheus"));
        assert_eq!(
            b.variables,
            [Variable {
                name: "instance".into(),
                selector: r#"redis_up{job="redis"}"#.into(),
                label: "instance".into()
            }]
        );
        assert_eq!(b.unsupported, ["$odd: query_result(up)"]);
        let rows: Vec<(&str, &str)> = b
            .queries
            .iter()
            .map(|q| (q.row.as_str(), q.panel.as_str()))
            .collect();
        assert_eq!(rows, [("", "Up"), ("Sentinel", "Tilt")]);
        assert!(Board::parse("{").unwrap_err().starts_with("not JSON"));
    }

    #[test]
    fn expands_variables_and_builtins() {
        let values = BTreeMap::from([(
            "instance".to_owned(),
            alternation(&["redis-1:6381".into(), "redis-2:6382".into()]),
        )]);
        let e = expand(
            r#"rate(x{instance=~"$instance"}[$__rate_interval]) + y{i=~"${instance}"}"#,
            &values,
        );
        assert_eq!(
            e,
            r#"rate(x{instance=~"(redis-1:6381|redis-2:6382)"}[1m]) + y{i=~"(redis-1:6381|redis-2:6382)"}"#
        );
        assert_eq!(alternation(&["a.b".into()]), r"(a\\.b)");
        assert_eq!(
            leftover_variable("x{a=\"$unknown\"}"),
            Some("$unknown".into())
        );
        assert_eq!(leftover_variable(&e), None);
    }

    #[test]
    fn the_project_dashboards_parse() {
        for (name, text) in super::super::sources::Sources::embedded().dashboards {
            let b = Board::parse(&text).unwrap();
            assert!(b.unsupported.is_empty() && !b.queries.is_empty(), "{name}");
            for q in &b.queries {
                let values = BTreeMap::from([("instance".to_owned(), ".*".to_owned())]);
                assert_eq!(
                    leftover_variable(&expand(&q.expr, &values)),
                    None,
                    "{name}: {}",
                    q.expr
                );
            }
        }
    }
}
