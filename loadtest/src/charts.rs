//! PNG charts of a run over time: throughput (acked messages/s and deliveries/s) and
//! latency (p50 and p99 of send → ack and send → deliver, per second), drawn with
//! plotters' bitmap backend. Text needs a TrueType font: DejaVu Sans (Debian's
//! `fonts-dejavu-core`) unless another file is named.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;

use crate::report::{Point, Report};

/// The font used when none is named.
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const SIZE: (u32, u32) = (1000, 500);

static FONT: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Registers `font` as plotters' "sans-serif" (once per process).
fn register_font(font: &Path) -> Result<()> {
    FONT.get_or_init(|| {
        let bytes = std::fs::read(font)
            .map_err(|error| format!("reading the chart font {}: {error}", font.display()))?;
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes.leak())
            .map_err(|_| format!("{} is not a TrueType font", font.display()))
    })
    .clone()
    .map_err(|error| anyhow!(error))
}

/// Draws `<label>-<scenario>-throughput.png` and `…-latency.png` into `dir`; returns
/// their paths.
pub fn draw(report: &Report, dir: &Path, font: &Path) -> Result<Vec<PathBuf>> {
    register_font(font)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!("{}-{}", report.label, report.scenario);
    let throughput = dir.join(format!("{stem}-throughput.png"));
    let latency = dir.join(format!("{stem}-latency.png"));
    let title = format!("{} — {}", report.label, report.scenario);
    let count = |pick: fn(&Point) -> u64| -> Vec<(f64, f64)> {
        report
            .timeline
            .iter()
            .map(|point| (point.second as f64, pick(point) as f64))
            .collect()
    };
    chart(
        &throughput,
        &format!("{title}: throughput"),
        "per second",
        &[
            ("acked messages/s", count(|point| point.acked)),
            ("deliveries/s", count(|point| point.delivered)),
        ],
    )?;
    let millis = |pick: fn(&Point) -> Option<u64>| -> Vec<(f64, f64)> {
        report
            .timeline
            .iter()
            .filter_map(|point| Some((point.second as f64, pick(point)? as f64 / 1000.0)))
            .collect()
    };
    chart(
        &latency,
        &format!("{title}: latency"),
        "ms",
        &[
            ("send → ack p50", millis(|point| point.ack_p50_us)),
            ("send → ack p99", millis(|point| point.ack_p99_us)),
            ("send → deliver p50", millis(|point| point.deliver_p50_us)),
            ("send → deliver p99", millis(|point| point.deliver_p99_us)),
        ],
    )?;
    Ok(vec![throughput, latency])
}

fn chart(path: &Path, title: &str, unit: &str, series: &[(&str, Vec<(f64, f64)>)]) -> Result<()> {
    let points = || series.iter().flat_map(|(_, points)| points.iter());
    let x_max = points().map(|(x, _)| *x).fold(1.0, f64::max);
    let y_max = points().map(|(_, y)| *y).fold(0.0, f64::max).max(1e-3) * 1.1;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    let failed = |error: &dyn std::fmt::Display| anyhow!("drawing {}: {error}", path.display());
    root.fill(&WHITE).map_err(|error| failed(&error))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|error| failed(&error))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(unit)
        .draw()
        .map_err(|error| failed(&error))?;
    for (index, (name, points)) in series.iter().enumerate() {
        if points.is_empty() {
            continue;
        }
        let colour = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|error| failed(&error))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|error| failed(&error))?;
    root.present().map_err(|error| failed(&error))
}
