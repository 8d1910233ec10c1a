//! `verify --monitoring`: starts the exporter and Prometheus next to the
//! launched deployment (topology's `launch::monitoring`) and waits, bounded,
//! until Prometheus has scraped every node twice, so `rate()` panels and
//! rules have data when the checks run.

use crate::config::{MonitoringSettings, Settings};
use crate::prom::Prom;
use std::time::{Duration, Instant};
use topology::launch::monitoring::Monitoring;
use topology::Deployment;

/// How long the first scrapes may take.
const READY_BOUND: Duration = Duration::from_secs(60);

/// Starts the stack, points `settings` at it and waits until it has data.
pub(crate) async fn start(d: &Deployment, settings: &mut Settings) -> Result<Monitoring, String> {
    let m = launch(d).await?;
    settings.monitoring = Some(MonitoringSettings {
        prometheus: m.prometheus_url().to_owned(),
        grafana_dir: settings
            .monitoring
            .as_ref()
            .and_then(|s| s.grafana_dir.clone()),
    });
    Ok(m)
}

/// Starts the stack for `d` and waits, bounded, until it has data.
pub(crate) async fn launch(d: &Deployment) -> Result<Monitoring, String> {
    launch_with(d, &[], None).await
}

/// As [`launch`], also scraping `extra` (scratch nodes) and loading `rules`
/// instead of the project's when given; the `monitoring.alerts-fire` drill
/// starts its own this way.
pub(crate) async fn launch_with(
    d: &Deployment,
    extra: &[&Deployment],
    rules: Option<String>,
) -> Result<Monitoring, String> {
    let m = Monitoring::start_with(d, extra, rules, |k| std::env::var(k).ok())
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "verify: monitoring: redis_exporter and Prometheus at {} (scrape and evaluation every {})",
        m.prometheus_url(),
        topology::launch::monitoring::INTERVAL
    );
    let prom = Prom::new(m.prometheus_url(), Duration::from_secs(2)).map_err(|e| e.to_string())?;
    let nodes = d.nodes().len() + extra.iter().map(|x| x.nodes().len()).sum::<usize>();
    let started = Instant::now();
    // Two samples per node inside the dashboards' 1m rate windows, and a
    // second rule evaluation.
    let expr = "count(count_over_time(redis_up[1m]) >= 3)";
    let mut last = String::from("no reply yet");
    while started.elapsed() < READY_BOUND {
        match prom.query(expr).await {
            Ok(s) if s.first().map(|s| s.value as usize) == Some(nodes) => return Ok(m),
            Ok(s) => {
                last = format!(
                    "{} of {nodes} nodes scraped",
                    s.first().map(|s| s.value).unwrap_or(0.0)
                )
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!(
        "failed to see Prometheus scrape every node within {READY_BOUND:?}: {last}"
    ))
}
