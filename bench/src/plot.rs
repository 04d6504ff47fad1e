//! `--plot FILE.svg` and `crossline-bench plot`: the percentile spectrum chart HdrHistogram's plotter draws, as
//! SVG. The x axis is "1 in N" on a log scale (a percentile p sits at 1/(1-p): 90% at 10, 99.9% at 1,000, up to
//! 99.9999% at 10^6) so the tail gets as much room as the body; the y axis is latency, on a log scale too, since
//! a run's body and tail are often three or more decades apart. One run or several overlaid, each named in the
//! legend.
//!
//! Plotters draws with its SVG backend only: text becomes SVG `<text>` elements that the viewer renders, so no
//! font is read or needed at build or run time.

use crate::histogram::{human_ns, read_hgrm_rows};
use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use plotters::prelude::*;
use std::path::Path;

/// The right end of the x axis at most: 1 in 10^6, the 99.9999th percentile.
pub const ONE_IN_N_MAX: f64 = 1e6;
const WIDTH: u32 = 960;
const HEIGHT: u32 = 540;
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// One run's percentile spectrum: (percentile as a fraction in 0..1, latency in microseconds), percentiles rising.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// From a latency histogram in nanoseconds.
    pub fn from_histogram(name: impl Into<String>, histogram: &Histogram<u64>) -> Series {
        let points = histogram
            .iter_quantiles(5)
            .map(|step| {
                (
                    step.quantile_iterated_to(),
                    step.value_iterated_to() as f64 / 1e3,
                )
            })
            .collect();
        Series {
            name: name.into(),
            points,
        }
    }

    /// From the text of a `.hgrm` file (values in microseconds, as this rig writes them).
    pub fn from_hgrm(name: impl Into<String>, text: &str) -> anyhow::Result<Series> {
        let name = name.into();
        let points: Vec<(f64, f64)> = read_hgrm_rows(text)
            .into_iter()
            .map(|(value, percentile, _)| (percentile, value))
            .collect();
        if points.is_empty() {
            bail!("{name}: no percentile rows (is it an .hgrm file?)");
        }
        Ok(Series { name, points })
    }

    /// The points that can sit on the "1 in N" axis: (1/(1-p), latency); p = 1 (the max) has no place on it.
    fn one_in_n_points(&self) -> Vec<(f64, f64)> {
        self.points
            .iter()
            .filter(|(percentile, _)| *percentile < 1.0)
            .filter(|(_, value)| *value > 0.0)
            .map(|&(percentile, value)| ((1.0 / (1.0 - percentile)).min(ONE_IN_N_MAX), value))
            .collect()
    }
}

/// The label of an "1 in N" tick: its percentile ("0%", "90%", "99.99%"), for powers of ten only.
pub fn one_in_n_label(one_in_n: f64) -> String {
    let exponent = one_in_n.log10();
    if (exponent - exponent.round()).abs() > 1e-6 {
        return String::new();
    }
    match exponent.round() as i32 {
        ..=0 => "0%".to_string(),
        1 => "90%".to_string(),
        2 => "99%".to_string(),
        nines => format!("99.{}%", "9".repeat((nines - 2) as usize)),
    }
}

/// Draws the chart of `series` into an SVG string.
pub fn render_svg(title: &str, series: &[Series]) -> anyhow::Result<String> {
    if series.is_empty() {
        bail!("nothing to plot");
    }
    let curves: Vec<Vec<(f64, f64)>> = series.iter().map(Series::one_in_n_points).collect();
    let x_end = curves
        .iter()
        .flatten()
        .map(|&(x, _)| x)
        .fold(10.0f64, f64::max);
    let x_end = 10f64.powf(x_end.log10().ceil()).min(ONE_IN_N_MAX);
    let positive = || {
        curves
            .iter()
            .flatten()
            .map(|&(_, y)| y)
            .filter(|&y| y > 0.0)
    };
    let y_start = positive().fold(f64::INFINITY, f64::min);
    let y_end = positive().fold(0.0f64, f64::max);
    let (y_start, y_end) = if y_end > 0.0 {
        (
            10f64.powf(y_start.log10().floor()),
            10f64.powf((y_end * 1.05).log10().ceil()),
        )
    } else {
        (1e-3, 1.0)
    };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .margin_right(48)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d((1.0f64..x_end).log_scale(), (y_start..y_end).log_scale())
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("percentile (log scale of 1 in N)")
            .y_desc("latency (log scale)")
            .x_label_formatter(&|x| one_in_n_label(*x))
            .y_label_formatter(&|y| human_ns(*y * 1e3))
            .draw()
            .map_err(plot_error)?;
        for (index, (one, curve)) in series.iter().zip(&curves).enumerate() {
            let color = COLORS[index % COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    curve.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(plot_error)?
                .label(one.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Draws the chart of `series` into `path`.
pub fn write_svg(path: &Path, title: &str, series: &[Series]) -> anyhow::Result<()> {
    let svg = render_svg(title, series)?;
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))
}

/// Reads `.hgrm` files and draws them overlaid, each named by its file stem.
pub fn plot_hgrm_files(out: &Path, title: &str, inputs: &[impl AsRef<Path>]) -> anyhow::Result<()> {
    let series = inputs
        .iter()
        .map(|input| {
            let input = input.as_ref();
            let text = std::fs::read_to_string(input)
                .with_context(|| format!("reading {}", input.display()))?;
            let name = input
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_else(|| input.display().to_string());
            Series::from_hgrm(name, &text)
        })
        .collect::<anyhow::Result<Vec<Series>>>()?;
    write_svg(out, title, &series)
}

fn plot_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_name_their_percentiles() {
        assert_eq!(one_in_n_label(1.0), "0%");
        assert_eq!(one_in_n_label(10.0), "90%");
        assert_eq!(one_in_n_label(100.0), "99%");
        assert_eq!(one_in_n_label(1e4), "99.99%");
        assert_eq!(one_in_n_label(1e6), "99.9999%");
        assert_eq!(one_in_n_label(20.0), "");
    }
}
