//! The home page's chart, drawn on the server as SVG: no script needed to see it.
//! Labels are left to the page's table beside it, so no font is needed here.

use backflow_store::RefundDay;
use plotters::prelude::*;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 240;
const BAR: RGBColor = RGBColor(11, 92, 173);
const RATE: RGBColor = RGBColor(24, 106, 59);

/// Bars: refunds per day, scaled to the busiest day. Line: the share that succeeded, 0-100%.
pub fn refunds_per_day(days: &[RefundDay]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let top = 10i32;
        let bottom = HEIGHT as i32 - 10;
        let height = bottom - top;
        let slot = WIDTH as i32 / days.len().max(1) as i32;
        let busiest = days.iter().map(|d| d.count).max().unwrap_or(0).max(1);
        root.draw(&PathElement::new(
            vec![(0, bottom), (WIDTH as i32, bottom)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?;
        let mut rate_points = Vec::new();
        for (i, d) in days.iter().enumerate() {
            let x = i as i32 * slot;
            let bar = (d.count * i64::from(height) / busiest) as i32;
            if bar > 0 {
                root.draw(&Rectangle::new(
                    [(x + 2, bottom - bar), (x + slot - 2, bottom)],
                    BAR.mix(0.7).filled(),
                ))
                .map_err(|e| e.to_string())?;
            }
            if d.count > 0 {
                let y = bottom - (d.succeeded * i64::from(height) / d.count) as i32;
                rate_points.push((x + slot / 2, y));
            }
        }
        if rate_points.len() > 1 {
            root.draw(&PathElement::new(rate_points.clone(), RATE.stroke_width(2)))
                .map_err(|e| e.to_string())?;
        }
        for p in rate_points {
            root.draw(&Circle::new(p, 3, RATE.filled()))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_svg_with_a_bar_per_busy_day() {
        let days: Vec<RefundDay> = (0..30)
            .map(|day| RefundDay {
                day,
                count: day % 3,
                succeeded: day % 2,
            })
            .collect();
        let svg = refunds_per_day(&days).unwrap();
        assert!(svg.contains("<svg"));
        // A white background, and one bar for each of the 20 days with refunds.
        assert_eq!(svg.matches("<rect").count(), 1 + 20);
        assert!(svg.contains("<polyline"));
    }
}
