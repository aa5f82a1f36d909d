//! The SVG chart of `passcom simulate --plot`: availability and time to converge per schedule,
//! one series per escrow share.

use crate::sim::Outcome;
use plotters::prelude::*;

/// One series of the chart: a label (such as "escrow 0.2") and its schedules in seed order.
#[derive(Debug)]
pub struct Series<'a> {
    /// The legend.
    pub label: String,
    /// The schedules.
    pub outcomes: &'a [Outcome],
}

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Writes an SVG at `path` with two panels: availability (confirmed / attempted with a seat
/// somewhere) per schedule, and time to converge after the final heal per schedule.
///
/// Errors: the file cannot be written, or plotters fails to draw (reported as text).
pub fn write_svg(path: &std::path::Path, series: &[Series<'_>]) -> Result<(), String> {
    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(350);
    let max_x = series
        .iter()
        .map(|s| s.outcomes.len())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let availability = |o: &Outcome| {
        let m = &o.metrics;
        if m.attempts == 0 {
            None
        } else {
            Some(m.confirmed as f64 / m.attempts as f64)
        }
    };
    let mut chart = ChartBuilder::on(&top)
        .caption(
            "Availability per schedule (confirmed / attempted while a seat existed)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..max_x, 0f64..1.05f64)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("schedule")
        .y_desc("availability")
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = s
            .outcomes
            .iter()
            .enumerate()
            .filter_map(|(x, o)| availability(o).map(|a| (x as f64, a)))
            .collect();
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 2, color.filled())))
            .map_err(|e| e.to_string())?
            .label(s.label.clone())
            .legend(move |(x, y)| Circle::new((x + 5, y), 3, color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;

    let max_y = series
        .iter()
        .flat_map(|s| s.outcomes.iter().filter_map(|o| o.metrics.convergence_ms))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "Time to converge after the final heal (sim ms)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_x, 0f64..max_y * 1.05)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("schedule")
        .y_desc("ms")
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = s
            .outcomes
            .iter()
            .enumerate()
            .filter_map(|(x, o)| o.metrics.convergence_ms.map(|c| (x as f64, c as f64)))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color))
            .map_err(|e| e.to_string())?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
