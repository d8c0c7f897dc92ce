//! One run's samples as an SVG chart: cumulative counts on top (received, emitted,
//! dropped), the buffer level and its pressure below, both against virtual time.
//!
//! SVG only, with plotters' built-in text size estimate (no font files, no system
//! libraries). Coordinates are whole pixels and nothing depends on the clock or the
//! machine, so the same samples always give the same bytes.

use std::error::Error;

use plotters::prelude::*;

use crate::runs::Sample;

const SIZE: (u32, u32) = (800, 560);
/// Every how many samples a point is drawn: a chart is about 650 pixels wide, so one
/// point per 2 ms of a 1 s run is already at pixel resolution (and halves the file).
const POINT_EVERY: usize = 2;
const RECEIVED: RGBColor = RGBColor(150, 150, 150);
const EMITTED: RGBColor = RGBColor(31, 119, 180);
const DROPPED: RGBColor = RGBColor(214, 39, 40);
const BUFFERED: RGBColor = RGBColor(44, 160, 44);
const PRESSURE: RGBColor = RGBColor(255, 127, 14);

/// Renders `samples` as an SVG document titled `title`.
pub(crate) fn svg(title: &str, samples: &[Sample]) -> Result<String, Box<dyn Error>> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 18))?;
        let (top, bottom) = root.split_vertically(SIZE.1 / 2 - 20);
        let end = samples.last().map_or(1, |s| s.t_ms);
        let step = POINT_EVERY * (end as usize / 1_000).max(1);
        let points: Vec<Sample> = samples.iter().step_by(step).copied().collect();
        counts(&top, end, &points)?;
        buffer(&bottom, end, &points)?;
        root.present()?;
    }
    Ok(out)
}

/// A line of the counts chart: its label, its colour and its value in a sample.
type Series = (&'static str, RGBColor, fn(&Sample) -> u64);

/// `max` with about 10% of headroom, at least 1.
fn headroom(max: u64) -> u64 {
    max + (max / 10).max(1)
}

/// A legend entry: a short line in `color`.
fn key(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
}

fn counts<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    end: u32,
    samples: &[Sample],
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let top = headroom(samples.iter().map(|s| s.received).max().unwrap_or(0));
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0..end, 0..top)?;
    chart
        .configure_mesh()
        .max_light_lines(1)
        .x_desc("virtual time (ms)")
        .y_desc("items (cumulative)")
        .draw()?;
    let series: [Series; 3] = [
        ("received", RECEIVED, |s| s.received),
        ("emitted", EMITTED, |s| s.emitted),
        ("dropped", DROPPED, |s| s.dropped),
    ];
    for (label, color, value) in series {
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|s| (s.t_ms, value(s))),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(key(color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn buffer<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    end: u32,
    samples: &[Sample],
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let top = headroom(samples.iter().map(|s| s.buffered).max().unwrap_or(0));
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0..end, 0..top)?
        .set_secondary_coord(0..end, 0.0..1.1);
    chart
        .configure_mesh()
        .max_light_lines(1)
        .x_desc("virtual time (ms)")
        .y_desc("items buffered")
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("pressure (buffered / capacity)")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            samples.iter().map(|s| (s.t_ms, s.buffered)),
            BUFFERED.stroke_width(2),
        ))?
        .label("buffered (left axis)")
        .legend(key(BUFFERED));
    chart
        .draw_secondary_series(LineSeries::new(
            samples.iter().map(|s| (s.t_ms, s.pressure)),
            PRESSURE.stroke_width(1),
        ))?
        .label("pressure (right axis; 0 without a capacity)")
        .legend(key(PRESSURE));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
