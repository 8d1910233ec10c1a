//! `verify drill --plot FILE.svg`: one panel per drill, writes completed per
//! 100 ms bucket by outcome (acked, failed, unknown) on the drill clock, the
//! phase events (fault, heal, promotion, Sentinel switch, first and last
//! acks) as labelled vertical lines.
//!
//! Only plotters' SVG backend: text goes into the file as `<text>` elements
//! and the viewer picks the font, so no font library or system font is
//! needed to draw.

use super::writer::{ms, WriteOutcome, WriteRecord};
use super::DrillResult;
use plotters::prelude::*;
use serde::Serialize;

/// Width of one bucket.
pub const BUCKET_MS: u64 = 100;
const WIDTH: u32 = 1000;
const PANEL_HEIGHT: u32 = 320;

/// Writes completed in one bucket, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Bucket start (ms on the drill clock).
    pub t_ms: u64,
    /// Acked.
    pub acked: u32,
    /// Failed.
    pub failed: u32,
    /// Unknown.
    pub unknown: u32,
}

/// Counts `history` per [`BUCKET_MS`] by completion time; every bucket
/// from 0 to the last completion is present.
pub fn buckets(history: &[WriteRecord]) -> Vec<Bucket> {
    let end = history.iter().map(|w| ms(w.complete)).max();
    let Some(end) = end else {
        return Vec::new();
    };
    let n = usize::try_from(end / BUCKET_MS + 1).unwrap_or(0);
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            t_ms: i as u64 * BUCKET_MS,
            ..Bucket::default()
        })
        .collect();
    for w in history {
        let i = usize::try_from(ms(w.complete) / BUCKET_MS).unwrap_or(0);
        if let Some(b) = out.get_mut(i) {
            match w.outcome {
                WriteOutcome::Acked => b.acked += 1,
                WriteOutcome::Failed => b.failed += 1,
                WriteOutcome::Unknown => b.unknown += 1,
            }
        }
    }
    out
}

/// Why the plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("failed to draw the drill plot: {0}")]
pub struct PlotError(String);

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError(e.to_string())
}

/// One line of the plot: name, colour, value per bucket.
type Series = (&'static str, RGBColor, fn(&Bucket) -> u32);

/// Events worth a line on the plot.
const MARKED: &[&str] = &[
    "fault",
    "heal",
    "+switch-master",
    "+promoted-slave",
    "last ack before",
    "first ack after",
    "first failed write",
];

/// The SVG for every drill that ran (skipped and errored drills without
/// writes get an empty panel with their message).
pub fn svg(drills: &[DrillResult]) -> Result<String, PlotError> {
    let mut out = String::new();
    let panels = u32::try_from(drills.len().max(1)).unwrap_or(1);
    {
        let root =
            SVGBackend::with_string(&mut out, (WIDTH, PANEL_HEIGHT * panels)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((drills.len().max(1), 1));
        for (area, d) in areas.iter().zip(drills) {
            panel(area, d)?;
        }
        root.present().map_err(err)?;
    }
    Ok(out)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    d: &DrillResult,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let end_ms = d
        .buckets
        .last()
        .map_or(1000, |b| b.t_ms + BUCKET_MS)
        .max(d.timeline.iter().map(|e| e.t_ms).max().unwrap_or(0));
    let top = d
        .buckets
        .iter()
        .map(|b| b.acked.max(b.failed).max(b.unknown))
        .max()
        .unwrap_or(0)
        .max(1);
    let seconds = |t: u64| t as f64 / 1000.0;
    let caption = format!(
        "{} ({}): {:?}, lost {} of {} acked, unavailable {} ms",
        d.id,
        d.topology,
        d.status,
        d.lost,
        d.writes.acked,
        d.unavailability_ms.unwrap_or(0)
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d(0f64..seconds(end_ms), 0u32..top + top / 5 + 1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the drill started")
        .y_desc("writes per 100 ms")
        .draw()
        .map_err(err)?;
    let series: [Series; 3] = [
        ("acked", RGBColor(0x2e, 0x7d, 0x32), |b| b.acked),
        ("failed", RGBColor(0xc6, 0x28, 0x28), |b| b.failed),
        ("unknown", RGBColor(0xef, 0x6c, 0x00), |b| b.unknown),
    ];
    for (name, colour, value) in series {
        chart
            .draw_series(LineSeries::new(
                d.buckets
                    .iter()
                    .map(|b| (seconds(b.t_ms + BUCKET_MS / 2), value(b))),
                colour.stroke_width(2),
            ))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    let mut seen = std::collections::BTreeSet::new();
    for e in &d.timeline {
        // One line per kind of event (the first): Sentinels each report
        // the same switch.
        if !MARKED.contains(&e.event.as_str()) || !seen.insert(e.event.as_str()) {
            continue;
        }
        let x = seconds(e.t_ms);
        let grey = RGBColor(0x55, 0x55, 0x55);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, 0), (x, top + top / 5)],
                grey,
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                e.event.clone(),
                (x, top + top / 5 - (seen.len() as u32 % 4) * (top / 12 + 1)),
                ("sans-serif", 11).into_font().color(&grey),
            )))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn w(complete_ms: u64, outcome: WriteOutcome) -> WriteRecord {
        WriteRecord {
            writer: 0,
            seq: complete_ms,
            invoke: Duration::from_millis(complete_ms.saturating_sub(1)),
            complete: Duration::from_millis(complete_ms),
            outcome,
            node: None,
            reason: None,
        }
    }

    #[test]
    fn writes_are_counted_per_bucket_by_completion() {
        let b = buckets(&[
            w(5, WriteOutcome::Acked),
            w(99, WriteOutcome::Acked),
            w(150, WriteOutcome::Failed),
            w(320, WriteOutcome::Unknown),
        ]);
        assert_eq!(b.len(), 4);
        assert_eq!(
            (b[0].acked, b[1].failed, b[2].acked, b[3].unknown),
            (2, 1, 0, 1)
        );
        assert_eq!(b[3].t_ms, 300);
        assert!(buckets(&[]).is_empty());
    }
}
