//! A small client for the Prometheus HTTP API (`/api/v1/query`, `targets`,
//! `rules`, `alerts`, label values), used by the `monitoring.*` checks.
//!
//! Plain HTTP/1.0 GETs over a tokio socket: the API is GET-with-query-string
//! plus JSON, an HTTP/1.0 request makes the server answer without chunked
//! encoding and close the connection, and the workspace's only full HTTP
//! client (reqwest, via goose) would bring a second TLS provider into
//! `verify`. `https://` is refused with a clear message (reach a TLS
//! Prometheus through a local port-forward). Every request is bounded by the
//! client's timeout.

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest response body read (a `/api/v1/rules` of a big server is a few MB).
const MAX_BODY: usize = 32 << 20;

/// Why a Prometheus request failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PromError {
    /// The URL is not `http://host[:port][/prefix]`.
    #[error("failed to use Prometheus URL `{0}`: give http://host:port (https is not supported; use a port-forward)")]
    Url(String),
    /// Connecting, sending or reading failed or timed out.
    #[error("failed to reach Prometheus at {addr}: {detail}")]
    Io {
        /// host:port.
        addr: String,
        /// What went wrong.
        detail: String,
    },
    /// Not HTTP 200, or the API reported an error.
    #[error("failed to {what}: {detail}")]
    Api {
        /// The request, e.g. `query up`.
        what: String,
        /// HTTP status or the API's error text.
        detail: String,
    },
}

/// One sample of an instant-vector or scalar result.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels (`__name__` included when present).
    pub labels: BTreeMap<String, String>,
    /// Its value (`NaN`/`±Inf` are kept, checks judge them).
    pub value: f64,
}

impl Sample {
    /// A label's value, or "" when absent.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}

/// A Prometheus server's API.
#[derive(Clone, Debug)]
pub struct Prom {
    host: String,
    port: u16,
    prefix: String,
    timeout: Duration,
}

impl Prom {
    /// Parses `http://host[:port][/prefix]`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, PromError> {
        let bad = || PromError::Url(url.to_owned());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad()); // credentials in URLs would end up in reports
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| bad())?)
            }
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            prefix: prefix.to_owned(),
            timeout,
        })
    }

    /// `host:port`, for messages.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// GET `path` with query `params`; the JSON `data` of a success reply.
    pub async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, PromError> {
        let what = match params.first() {
            Some((_, v)) => format!("GET {path} {v}"),
            None => format!("GET {path}"),
        };
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let target = if query.is_empty() {
            format!("{}{path}", self.prefix)
        } else {
            format!("{}{path}?{}", self.prefix, query.join("&"))
        };
        let body = tokio::time::timeout(self.timeout, self.fetch(&target))
            .await
            .map_err(|_| PromError::Io {
                addr: self.addr(),
                detail: format!("no reply within {:?}", self.timeout),
            })??;
        parse_envelope(&what, &body)
    }

    async fn fetch(&self, target: &str) -> Result<(u16, String), PromError> {
        let io = |e: std::io::Error| PromError::Io {
            addr: self.addr(),
            detail: e.to_string(),
        };
        let mut stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(io)?;
        let request = format!(
            "GET {target} HTTP/1.0\r\nHost: {}\r\nAccept: application/json\r\nUser-Agent: verify\r\n\r\n",
            self.addr()
        );
        stream.write_all(request.as_bytes()).await.map_err(io)?;
        let mut raw = Vec::new();
        (&mut stream)
            .take(MAX_BODY as u64)
            .read_to_end(&mut raw)
            .await
            .map_err(io)?;
        split_response(&raw).ok_or_else(|| PromError::Io {
            addr: self.addr(),
            detail: "reply is not HTTP".to_owned(),
        })
    }

    /// An instant query: every sample of a vector or scalar result.
    pub async fn query(&self, expr: &str) -> Result<Vec<Sample>, PromError> {
        let data = self.get("/api/v1/query", &[("query", expr)]).await?;
        samples(&data).map_err(|detail| PromError::Api {
            what: format!("query {expr}"),
            detail,
        })
    }

    /// Values of `label` over the series `selector` matches.
    pub async fn label_values(
        &self,
        label: &str,
        selector: &str,
    ) -> Result<Vec<String>, PromError> {
        let path = format!("/api/v1/label/{label}/values");
        let data = self.get(&path, &[("match[]", selector)]).await?;
        Ok(data
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Splits an HTTP response into status and body.
fn split_response(raw: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The `data` of a Prometheus API envelope, or its error.
fn parse_envelope(what: &str, (status, body): &(u16, String)) -> Result<Value, PromError> {
    let api = |detail: String| PromError::Api {
        what: what.to_owned(),
        detail,
    };
    let json: Value = serde_json::from_str(body).map_err(|_| {
        api(format!(
            "HTTP {status}, not an API reply: {}",
            body.chars().take(120).collect::<String>()
        ))
    })?;
    if json["status"] == "success" {
        Ok(json["data"].clone())
    } else {
        Err(api(format!(
            "{}: {}",
            json["errorType"].as_str().unwrap_or("error"),
            json["error"].as_str().unwrap_or("no error text")
        )))
    }
}

/// Samples of a query result (`resultType` vector or scalar).
pub fn samples(data: &Value) -> Result<Vec<Sample>, String> {
    let value = |v: &Value| -> Result<f64, String> {
        let text = v[1].as_str().ok_or("sample without a value")?;
        parse_value(text).ok_or_else(|| format!("unreadable sample value `{text}`"))
    };
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .ok_or_else(|| "vector result without samples".to_owned())?
            .iter()
            .map(|s| {
                Ok(Sample {
                    labels: s["metric"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    value: value(&s["value"])?,
                })
            })
            .collect(),
        Some("scalar") => Ok(vec![Sample {
            labels: BTreeMap::new(),
            value: value(&data["result"])?,
        }]),
        other => Err(format!("unexpected result type {other:?}")),
    }
}

/// Prometheus sample text: a float, `NaN`, `+Inf` or `-Inf`.
pub fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        t => t.parse().ok(),
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved kept).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Duration::from_secs(1);
        let p = Prom::new("http://127.0.0.1:9090", t).unwrap();
        assert_eq!(
            (p.addr(), p.prefix.as_str()),
            ("127.0.0.1:9090".to_owned(), "")
        );
        let p = Prom::new("http://prom.internal/prometheus/", t).unwrap();
        assert_eq!(
            (p.addr(), p.prefix.as_str()),
            ("prom.internal:80".to_owned(), "/prometheus")
        );
        for bad in [
            "https://p:9090",
            "127.0.0.1:9090",
            "http://u:pw@p:9090",
            "http://:9090",
            "http://p:x",
        ] {
            assert!(matches!(Prom::new(bad, t), Err(PromError::Url(_))), "{bad}");
        }
    }

    #[test]
    fn envelopes() {
        let ok = (200, r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"redis_up","instance":"redis-1:6381"},"value":[1.7e9,"1"]},{"metric":{},"value":[1.7e9,"NaN"]}]}}"#.to_owned());
        let s = samples(&parse_envelope("q", &ok).unwrap()).unwrap();
        assert_eq!(s[0].label("instance"), "redis-1:6381");
        assert_eq!(s[0].value, 1.0);
        assert!(s[1].value.is_nan());
        let scalar = (
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[1.7e9,"+Inf"]}}"#
                .to_owned(),
        );
        assert_eq!(
            samples(&parse_envelope("q", &scalar).unwrap()).unwrap()[0].value,
            f64::INFINITY
        );
        let bad = (
            400,
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#
                .to_owned(),
        );
        assert_eq!(
            parse_envelope("query x(", &bad).unwrap_err().to_string(),
            "failed to query x(: bad_data: parse error at char 5"
        );
        let html = (404, "<html>not found</html>".to_owned());
        assert!(parse_envelope("q", &html)
            .unwrap_err()
            .to_string()
            .contains("HTTP 404"));
    }

    #[test]
    fn responses_and_encoding() {
        assert_eq!(
            split_response(b"HTTP/1.0 200 OK\r\nA: b\r\n\r\n{}"),
            Some((200, "{}".to_owned()))
        );
        assert_eq!(split_response(b"garbage"), None);
        assert_eq!(
            encode(r#"up{job="redis"}[5m]"#),
            "up%7Bjob%3D%22redis%22%7D%5B5m%5D"
        );
    }

    #[tokio::test]
    async fn refused_connection_is_one_clear_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let p = Prom::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2)).unwrap();
        let e = p.query("up").await.unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("failed to reach Prometheus at 127.0.0.1:{port}")),
            "{e}"
        );
    }
}
