//! `--plot FILE.svg`: the run as a picture. Top: the latency percentile
//! distribution of every operation (HDR style: the x axis is
//! `1 / (1 - quantile)` on a log scale, so p99, p99.9 and p99.99 get equal
//! room and the tail is where the eye goes). Bottom: throughput over time,
//! so a stall or a ramp shows where it happened.
//!
//! SVG only, drawn by `plotters` without any font library: text is left to
//! whatever shows the SVG, and nothing is read from the system.

use crate::summary::{OpSummary, Summary, SummaryError};
use hdrhistogram::Histogram;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Picture size in pixels.
const SIZE: (u32, u32) = (1000, 900);

/// Largest x (`1 / (1 - q)`): the distribution is drawn up to p99.9999.
const X_MAX: f64 = 1e6;

/// Why the plot was not written.
#[derive(Debug, Error)]
pub enum PlotError {
    /// A histogram in the summary does not decode.
    #[error(transparent)]
    Histogram(#[from] SummaryError),
    /// plotters failed to lay out or draw.
    #[error("failed to draw the plot: {0}")]
    Draw(String),
    /// The file could not be written.
    #[error("failed to write the plot to {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Throughput over the run: (seconds since the start, operations per second
/// in the second that ended then).
pub type Timeline = Vec<(f64, f64)>;

fn draw_err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// The points `(1 / (1 - q), µs)` of a histogram's percentile distribution.
fn distribution(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = h
        .iter_quantiles(4)
        .map(|v| {
            let q = v.quantile_iterated_to();
            let x = if q >= 1.0 {
                X_MAX
            } else {
                (1.0 / (1.0 - q)).min(X_MAX)
            };
            (x, (v.value_iterated_to() as f64).max(1.0))
        })
        .collect();
    points.dedup_by(|a, b| a.0 <= b.0);
    points
}

/// Renders the SVG text for a summary and its timeline.
pub fn render(summary: &Summary, timeline: &[(f64, f64)]) -> Result<String, PlotError> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let open = summary.is_open_loop();
    for (name, op) in &summary.operations {
        let h = OpSummary::decode(op)?;
        if !h.is_empty() {
            series.push((name.clone(), distribution(&h)));
        }
    }
    if open {
        let h = summary.combined_service_histogram()?;
        if !h.is_empty() {
            series.push(("all, service time".into(), distribution(&h)));
        }
    }
    let y_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(10.0, f64::max)
        * 1.5;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (top, bottom) = root.split_vertically(SIZE.1 * 3 / 5);
        let title = format!(
            "{}: latency percentiles ({}), µs",
            summary.workload,
            if open {
                "from the intended start"
            } else {
                "from the send"
            }
        );
        let mut chart = ChartBuilder::on(&top)
            .margin(15)
            .caption(title, ("sans-serif", 20))
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((1.0..X_MAX).log_scale(), (1.0..y_max).log_scale())
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("µs")
            .x_label_formatter(&|x| percentile_label(*x))
            .draw()
            .map_err(draw_err)?;
        for (i, (name, points)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(draw_err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(draw_err)?;

        let t_max = timeline.iter().map(|(t, _)| *t).fold(1.0, f64::max);
        let r_max = timeline.iter().map(|(_, r)| *r).fold(1.0, f64::max) * 1.2;
        let mut chart = ChartBuilder::on(&bottom)
            .margin(15)
            .caption("throughput, operations per second", ("sans-serif", 20))
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..t_max, 0.0..r_max)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("ops/s")
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(LineSeries::new(
                timeline.iter().copied(),
                BLUE.stroke_width(2),
            ))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

fn percentile_label(x: f64) -> String {
    let q = 100.0 * (1.0 - 1.0 / x);
    match q {
        q if q < 1.0 => "0".into(),
        q if q < 99.0 => format!("{q:.0}"),
        q if q < 99.99 => format!("{q:.1}"),
        q => format!("{q:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned(),
    }
}

/// Writes the plot of a run to `path`.
pub fn write(path: &Path, summary: &Summary, timeline: &[(f64, f64)]) -> Result<(), PlotError> {
    let svg = render(summary, timeline)?;
    std::fs::write(path, svg).map_err(|source| PlotError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::summary_with;

    #[test]
    fn svg_is_written_and_well_formed() {
        let samples: Vec<u64> = (1..=10_000).map(|i| 50 + i % 700).collect();
        let s = summary_with(&samples, 0, &[]);
        let timeline: Timeline = (1..=5)
            .map(|t| (f64::from(t), 1000.0 * f64::from(t)))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.svg");
        write(&path, &s, &timeline).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..80.min(text.len())]);
        assert!(text.trim_end().ends_with("</svg>"));
        // Well-formed: every element opened is closed, in order.
        let mut open: Vec<String> = Vec::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find('<') {
            let end = rest[i..].find('>').unwrap() + i;
            let tag = &rest[i + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(
                    open.pop().as_deref(),
                    Some(name.trim()),
                    "mismatched </{name}>"
                );
            } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
                open.push(tag.split_whitespace().next().unwrap().to_owned());
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed: {open:?}");
        assert!(text.contains("getset:GET"), "legend names the operation");
        assert!(text.contains("<polyline"), "lines drawn");
    }

    #[test]
    fn percentile_axis_labels() {
        assert_eq!(percentile_label(1.0), "0");
        assert_eq!(percentile_label(10.0), "90");
        assert_eq!(percentile_label(100.0), "99.0");
        assert_eq!(percentile_label(1000.0), "99.9");
        assert_eq!(percentile_label(10_000.0), "99.99");
    }
}
