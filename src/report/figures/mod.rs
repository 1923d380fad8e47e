//! The report's figures, drawn once per backend: SVG (inline in the HTML, served by the
//! dashboard) and PNG files. Text uses the DejaVu Sans font bundled in the binary, so rendering
//! needs no system font library.
//!
//! Log-scale hyperparameters are drawn on a linear axis of log10(value) whose tick labels show
//! the values themselves; categories sit at 0, 1, 2, ... with their labels. Ticks follow
//! matplotlib's defaults (`numbers`): round 1-2-5 steps, decades on log axes, whole numbers on
//! integer axes, each category labelled at its own place, light grid lines at the ticks only.

use super::analysis::{
    value_label, Analysis, HyperparameterInfo, MainEffect, Run, MIN_CATEGORY_RUNS,
};
use super::numbers;
use crate::store::RunState;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use progress::{best_vs_compute, draw_best_so_far, draw_pruned, learning_curves, run_time};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub const WIDTH: u32 = 820;
pub const HEIGHT: u32 = 460;

const SUCCEEDED: RGBColor = RGBColor(31, 119, 180);
const FAILED: RGBColor = RGBColor(214, 39, 40);
const BEST: RGBColor = RGBColor(44, 160, 44);
const OTHER: RGBColor = RGBColor(127, 127, 127);
/// Grid lines: light, at the major ticks only.
const GRID: RGBColor = RGBColor(228, 228, 228);
const FONT: &str = "sans-serif";

mod progress;

static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bundled font is known to parse; if it ever did not, text would be missing,
        // which the report tests notice.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

/// One figure of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    History,
    Parameter(usize),
    Parallel,
    Importance,
    Effect(usize),
    Failures,
    RunTime,
    Compute,
    Curves,
}

impl Figure {
    /// The figures an analysis has data for, in the report's order.
    pub fn all(analysis: &Analysis) -> Vec<Figure> {
        let mut list = vec![Figure::History];
        list.extend((0..analysis.hyperparameters.len()).map(Figure::Parameter));
        if analysis.hyperparameters.len() > 1 {
            list.push(Figure::Parallel);
        }
        if analysis.importance.is_some() {
            list.push(Figure::Importance);
            list.extend((0..analysis.hyperparameters.len()).map(Figure::Effect));
        }
        if !analysis.failures.is_empty() {
            list.push(Figure::Failures);
        }
        list.push(Figure::RunTime);
        list.push(Figure::Compute);
        if !analysis.curves.is_empty() {
            list.push(Figure::Curves);
        }
        list
    }

    /// A file-name stem: letters, digits, `-` and `_` only.
    pub fn stem(&self, analysis: &Analysis) -> String {
        let name = |i: usize| -> String {
            analysis.hyperparameters[i]
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        match self {
            Figure::History => "history".into(),
            Figure::Parameter(i) => format!("param_{i}_{}", name(*i)),
            Figure::Parallel => "parallel_coordinates".into(),
            Figure::Importance => "importance".into(),
            Figure::Effect(i) => format!("effect_{i}_{}", name(*i)),
            Figure::Failures => "failures".into(),
            Figure::RunTime => "run_time".into(),
            Figure::Compute => "best_vs_compute".into(),
            Figure::Curves => "learning_curves".into(),
        }
    }

    pub fn title(&self, analysis: &Analysis) -> String {
        match self {
            Figure::History => "Optimization history".into(),
            Figure::Parameter(i) => format!("{} vs loss", analysis.hyperparameters[*i].name),
            Figure::Parallel => "Parallel coordinates of the best runs".into(),
            Figure::Importance => "Hyperparameter importance".into(),
            Figure::Effect(i) => format!(
                "Main effect of {} (GP surrogate)",
                analysis.hyperparameters[*i].name
            ),
            Figure::Failures => "Failures by reason".into(),
            Figure::RunTime => "Run time per run".into(),
            Figure::Compute => "Best loss against the compute used".into(),
            Figure::Curves => "Learning curves".into(),
        }
    }

    /// The figure as an SVG document.
    pub fn svg(&self, analysis: &Analysis) -> Result<String, String> {
        register_font();
        let mut text = String::new();
        {
            let root = SVGBackend::with_string(&mut text, (WIDTH, HEIGHT)).into_drawing_area();
            draw(self, analysis, &root)?;
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(text)
    }

    /// Writes the figure as a PNG file.
    pub fn png(&self, analysis: &Analysis, path: &Path) -> Result<(), String> {
        register_font();
        let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
        draw(self, analysis, &root)?;
        root.present().map_err(|e| e.to_string())
    }
}

/// Writes every figure as SVG and PNG into `folder`; returns the files written.
pub fn write_all(analysis: &Analysis, folder: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let mut written = Vec::new();
    for figure in Figure::all(analysis) {
        let stem = figure.stem(analysis);
        let svg_path = folder.join(format!("{stem}.svg"));
        std::fs::write(&svg_path, figure.svg(analysis)?)
            .map_err(|e| format!("{}: {e}", svg_path.display()))?;
        let png_path = folder.join(format!("{stem}.png"));
        figure
            .png(analysis, &png_path)
            .map_err(|e| format!("{}: {e}", png_path.display()))?;
        written.push(svg_path);
        written.push(png_path);
    }
    Ok(written)
}

type Area<'a, DB> = DrawingArea<DB, Shift>;

fn draw<DB: DrawingBackend>(figure: &Figure, a: &Analysis, root: &Area<DB>) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let title = figure.title(a);
    let result = match figure {
        Figure::History => history(a, root, &title),
        Figure::Parameter(i) => parameter(a, *i, root, &title),
        Figure::Parallel => parallel(a, root, &title),
        Figure::Importance => importance(a, root, &title),
        Figure::Effect(i) => effect(a, *i, root, &title),
        Figure::Failures => failures(a, root, &title),
        Figure::RunTime => run_time(a, root, &title),
        Figure::Compute => best_vs_compute(a, root, &title),
        Figure::Curves => learning_curves(a, root, &title),
    };
    result.map_err(|e| format!("drawing {title}: {e}"))
}

type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A linear axis with its own tick points: plotters draws a grid line and a label at each of
/// them and nowhere else (no minor mesh). (plotters' `WithKeyPoints` would do, but it cannot
/// take a label formatter on an f64 axis.)
#[derive(Clone)]
struct Axis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for Axis {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// One axis of a chart: its range, its ticks and their labels, its description.
struct AxisSpec {
    range: (f64, f64),
    ticks: Vec<f64>,
    labels: Vec<String>,
    desc: String,
    /// Grid lines at the ticks (not on an axis of categories).
    grid: bool,
}

impl AxisSpec {
    fn new(range: (f64, f64), (ticks, labels): (Vec<f64>, Vec<String>), desc: &str) -> Self {
        AxisSpec {
            range,
            ticks,
            labels,
            desc: desc.to_string(),
            grid: true,
        }
    }

    /// Round 1-2-5 ticks.
    fn linear(range: (f64, f64), desc: &str) -> Self {
        Self::new(range, numbers::linear(range.0, range.1, 7), desc)
    }

    /// Whole numbers only: ids, counts.
    fn integer(range: (f64, f64), desc: &str) -> Self {
        Self::new(range, numbers::integer(range.0, range.1, 10), desc)
    }

    /// Named items at 0, 1, 2, ..., each labelled at its own position.
    fn items(labels: Vec<String>, desc: &str) -> Self {
        let k = labels.len();
        AxisSpec {
            range: (-0.5, k.max(1) as f64 - 0.5),
            ticks: (0..k).map(|i| i as f64).collect(),
            labels,
            desc: desc.to_string(),
            grid: false,
        }
    }

    /// A hyperparameter's axis: categories by name, decades on a log axis (whose coordinate
    /// is log10 of the value), whole numbers for a discrete domain of integers.
    fn of(h: &HyperparameterInfo) -> Self {
        if h.kind == "categorical" {
            return Self::items(h.categories.clone(), &h.label());
        }
        let range = axis_range(h);
        let ticks = if h.log_scale {
            numbers::log10(range.0, range.1, 8)
        } else if h.integer {
            numbers::integer(range.0, range.1, 10)
        } else {
            numbers::linear(range.0, range.1, 8)
        };
        Self::new(range, ticks, &h.label())
    }

    /// The label of the tick at `v`; none elsewhere.
    fn label(&self, v: f64) -> String {
        let tolerance = (self.range.1 - self.range.0).abs() * 1e-9 + 1e-12;
        self.ticks
            .iter()
            .position(|t| (t - v).abs() <= tolerance)
            .and_then(|i| self.labels.get(i).cloned())
            .unwrap_or_default()
    }

    fn coord(&self) -> Axis {
        Axis {
            inner: (self.range.0..self.range.1).into(),
            ticks: self.ticks.clone(),
        }
    }
}

/// A chart with its axes, light grid lines at the ticks, and every tick labelled.
fn chart<'a, DB: DrawingBackend + 'a>(
    root: &'a Area<DB>,
    title: &str,
    x: &AxisSpec,
    y: &AxisSpec,
    y_label_area: u32,
) -> Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(12)
        .margin_right(24)
        .x_label_area_size(44)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(x.coord(), y.coord())?;
    let x_format = |v: &f64| x.label(*v);
    let y_format = |v: &f64| y.label(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x.desc.as_str())
        .y_desc(y.desc.as_str())
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .bold_line_style(GRID)
        .light_line_style(WHITE.mix(0.0));
    if !x.grid {
        mesh.disable_x_mesh();
    }
    if !y.grid {
        mesh.disable_y_mesh();
    }
    mesh.draw()?;
    Ok(chart)
}

/// A range around values, never empty.
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = if hi > lo {
        hi - lo
    } else {
        lo.abs().max(1.0) * 0.1
    };
    (lo - 0.06 * span, hi + 0.06 * span)
}

fn losses(a: &Analysis) -> impl Iterator<Item = f64> + '_ {
    a.runs.iter().filter_map(|r| r.loss)
}

fn no_data<DB: DrawingBackend>(root: &Area<DB>, title: &str, message: &str) -> Drawn<DB> {
    root.draw(&Text::new(
        title.to_string(),
        (20, 20),
        (FONT, 20).into_font(),
    ))?;
    root.draw(&Text::new(
        message.to_string(),
        (20, (HEIGHT / 2) as i32),
        (FONT, 16).into_font().color(&OTHER),
    ))
}

/// The x axis of combination ids 0 ..= the largest.
fn id_axis(a: &Analysis) -> AxisSpec {
    let last = a.runs.iter().map(|r| r.id).max().unwrap_or(0) as f64;
    AxisSpec::integer((-0.5, last + 0.5), "combination id")
}

fn history<DB: DrawingBackend>(a: &Analysis, root: &Area<DB>, title: &str) -> Drawn<DB> {
    let finished: Vec<&Run> = a.runs.iter().filter(|r| r.state.is_final()).collect();
    if finished.is_empty() {
        return no_data(root, title, "no run has finished yet");
    }
    let (y0, y1) = padded(losses(a));
    let x = id_axis(a);
    let x1 = x.range.1;
    let mut chart = chart(
        root,
        title,
        &x,
        &AxisSpec::linear((y0, y1), &a.loss_label),
        72,
    )?;
    let ok: Vec<(f64, f64)> = finished
        .iter()
        .filter(|r| r.state == RunState::Succeeded)
        .filter_map(|r| Some((r.id as f64, r.loss?)))
        .collect();
    chart
        .draw_series(ok.iter().map(|p| Circle::new(*p, 4, SUCCEEDED.filled())))?
        .label("succeeded")
        .legend(|(x, y)| Circle::new((x, y), 4, SUCCEEDED.filled()));
    // A failure is drawn at its imputed loss, or at the top when it has none.
    let failed: Vec<(f64, f64)> = finished
        .iter()
        .filter(|r| r.state == RunState::Failed)
        .map(|r| (r.id as f64, r.loss.unwrap_or(y1 - (y1 - y0) * 0.03)))
        .collect();
    draw_failures(&mut chart, &failed, "failed (at imputed loss, or top)")?;
    draw_pruned(
        &mut chart,
        &finished
            .iter()
            .filter(|r| r.state == RunState::Pruned)
            .filter_map(|r| Some((r.id as f64, r.loss?)))
            .collect::<Vec<_>>(),
    )?;
    draw_best_so_far(&mut chart, &ok, x1)?;
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// Failed runs as red crosses, with a legend entry when there are any.
fn draw_failures<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    points: &[(f64, f64)],
    label: &str,
) -> Drawn<DB> {
    if points.is_empty() {
        return Ok(());
    }
    chart
        .draw_series(
            points
                .iter()
                .map(|p| Cross::new(*p, 5, FAILED.stroke_width(2))),
        )?
        .label(label)
        .legend(|(x, y)| Cross::new((x, y), 5, FAILED.stroke_width(2)));
    Ok(())
}

fn draw_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    at: SeriesLabelPosition,
) -> Drawn<DB> {
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(OTHER)
        .position(at)
        .draw()
}

/// Where a value sits on a hyperparameter's axis: log10 of it on a log axis, a category's
/// index.
fn axis_x(h: &HyperparameterInfo, value: &Value) -> Option<f64> {
    if h.kind == "categorical" {
        let label = value_label(value);
        return h
            .categories
            .iter()
            .position(|c| *c == label)
            .map(|i| i as f64);
    }
    let x = value.as_f64()?;
    if h.log_scale {
        (x > 0.0).then(|| x.log10())
    } else {
        Some(x)
    }
}

fn axis_range(h: &HyperparameterInfo) -> (f64, f64) {
    if h.kind == "categorical" {
        return (-0.5, h.categories.len() as f64 - 0.5);
    }
    let t = |x: f64| if h.log_scale { x.log10() } else { x };
    let (lo, hi) = (t(h.low.unwrap_or(0.0)), t(h.high.unwrap_or(1.0)));
    let pad = if hi > lo { (hi - lo) * 0.04 } else { 0.5 };
    (lo - pad, hi + pad)
}

/// A small deterministic offset, so that runs of one category do not hide each other.
fn jitter(id: u64) -> f64 {
    ((id.wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0 - 0.5) * 0.3
}

fn parameter<DB: DrawingBackend>(
    a: &Analysis,
    i: usize,
    root: &Area<DB>,
    title: &str,
) -> Drawn<DB> {
    let h = &a.hyperparameters[i];
    let categorical = h.kind == "categorical";
    let mut chart = chart(
        root,
        title,
        &AxisSpec::of(h),
        &AxisSpec::linear(padded(losses(a)), &a.loss_label),
        72,
    )?;
    let place = |r: &Run| -> Option<(f64, f64)> {
        let x = axis_x(h, r.params.get(&h.name)?)?;
        let x = if categorical { x + jitter(r.id) } else { x };
        Some((x, r.loss?))
    };
    let ok: Vec<(f64, f64)> = a
        .runs
        .iter()
        .filter(|r| r.state == RunState::Succeeded)
        .filter_map(place)
        .collect();
    chart
        .draw_series(
            ok.iter()
                .map(|p| Circle::new(*p, 4, SUCCEEDED.mix(0.8).filled())),
        )?
        .label("succeeded")
        .legend(|(x, y)| Circle::new((x, y), 4, SUCCEEDED.filled()));
    let failed: Vec<(f64, f64)> = a
        .runs
        .iter()
        .filter(|r| r.state == RunState::Failed)
        .filter_map(place)
        .collect();
    draw_failures(&mut chart, &failed, "failed (imputed loss)")?;
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// A colour from green (best) through yellow to red (worst of the shown).
fn rank_colour(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let (r, g) = if t < 0.5 {
        (t * 2.0, 1.0)
    } else {
        (1.0, 2.0 - t * 2.0)
    };
    RGBColor((r * 220.0) as u8, (g * 170.0) as u8, 40)
}

/// Where a run sits on an axis of the parallel-coordinates plot, in [0, 1].
type Placement = Box<dyn Fn(&Run) -> Option<f64>>;

/// One vertical axis of the parallel-coordinates plot: where a run sits on it (0 at the
/// bottom, 1 at the top) and its labelled ticks at the same positions.
struct ParallelAxis {
    name: String,
    ticks: Vec<(f64, String)>,
    position: Placement,
}

fn loss_axis(shown: &[&Run], label: &str) -> ParallelAxis {
    let (lo, hi) = shown
        .iter()
        .filter_map(|r| r.loss)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), l| {
            (lo.min(l), hi.max(l))
        });
    let scale = move |l: f64| {
        if hi > lo {
            (l - lo) / (hi - lo)
        } else {
            0.5
        }
    };
    let (ticks, labels) = numbers::linear(lo, hi, 6);
    ParallelAxis {
        name: label.to_string(),
        ticks: ticks
            .iter()
            .map(|t| scale(*t))
            .zip(labels)
            .filter(|(p, _)| (-1e-9..=1.0 + 1e-9).contains(p))
            .collect(),
        position: Box::new(move |r: &Run| r.loss.map(scale)),
    }
}

fn hyperparameter_axis(h: &HyperparameterInfo) -> ParallelAxis {
    let name = h.name.clone();
    if h.kind == "categorical" {
        let k = h.categories.len();
        let at = move |i: usize| {
            if k > 1 {
                i as f64 / (k - 1) as f64
            } else {
                0.5
            }
        };
        let categories = h.categories.clone();
        return ParallelAxis {
            name: name.clone(),
            ticks: h
                .categories
                .iter()
                .enumerate()
                .map(|(i, c)| (at(i), c.clone()))
                .collect(),
            position: Box::new(move |r: &Run| {
                let label = value_label(r.params.get(&name)?);
                categories.iter().position(|c| *c == label).map(at)
            }),
        };
    }
    let log = h.log_scale;
    let t = move |x: f64| if log { x.log10() } else { x };
    let (lo, hi) = (t(h.low.unwrap_or(0.0)), t(h.high.unwrap_or(1.0)));
    let scale = move |x: f64| {
        if hi > lo {
            ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            0.5
        }
    };
    let (ticks, labels) = if log {
        numbers::log10(lo, hi, 6)
    } else if h.integer {
        numbers::integer(lo, hi, 6)
    } else {
        numbers::linear(lo, hi, 5)
    };
    ParallelAxis {
        name: name.clone(),
        ticks: ticks
            .iter()
            .map(|x| scale(*x))
            .zip(labels)
            .collect::<Vec<_>>()
            .into_iter()
            .filter(|(p, _)| (0.0..=1.0).contains(p))
            .collect(),
        position: Box::new(move |r: &Run| {
            let x = r.params.get(&name)?.as_f64()?;
            (!log || x > 0.0).then(|| scale(t(x)))
        }),
    }
}

/// Optuna's layout: the loss and every hyperparameter as vertical axes, each with its own
/// labelled ticks; a run is a line through its values, coloured by rank.
fn parallel<DB: DrawingBackend>(a: &Analysis, root: &Area<DB>, title: &str) -> Drawn<DB> {
    let mut ok: Vec<&Run> = a
        .runs
        .iter()
        .filter(|r| r.state == RunState::Succeeded && r.loss.is_some())
        .collect();
    if ok.is_empty() {
        return no_data(root, title, "no run has succeeded yet");
    }
    ok.sort_by(|x, y| x.loss.unwrap_or(0.0).total_cmp(&y.loss.unwrap_or(0.0)));
    // The best quarter, at least 5 and at most 50 runs.
    let shown = (ok.len() / 4).clamp(5.min(ok.len()), 50);
    ok.truncate(shown);
    let mut axes = vec![loss_axis(&ok, "loss")];
    axes.extend(a.hyperparameters.iter().map(hyperparameter_axis));
    let n = axes.len();
    let title = format!("{title} ({shown} best; green is best)");
    let names = AxisSpec::items(axes.iter().map(|x| x.name.clone()).collect(), "");
    let x = AxisSpec {
        range: (-0.12, n as f64 - 0.55),
        ..names
    };
    let y = AxisSpec::new((-0.06, 1.06), (vec![], vec![]), "");
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(16)
        .x_label_area_size(36)
        .build_cartesian_2d(x.coord(), y.coord())?;
    let x_format = |v: &f64| x.label(*v);
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_y_axis()
        .x_label_formatter(&x_format)
        .label_style((FONT, 14))
        .draw()?;
    // Worst first, so that the best lines are drawn on top.
    let worst = ok.len().max(2) - 1;
    for (rank, run) in ok.iter().enumerate().rev() {
        let line: Option<Vec<(f64, f64)>> = axes
            .iter()
            .enumerate()
            .map(|(i, axis)| Some((i as f64, (axis.position)(run)?)))
            .collect();
        if let Some(line) = line {
            let colour = rank_colour(rank as f64 / worst as f64);
            chart.draw_series(LineSeries::new(line, colour.stroke_width(2)))?;
        }
    }
    let label_style =
        TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, axis) in axes.iter().enumerate() {
        let x = i as f64;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, 0.0), (x, 1.0)],
            BLACK.stroke_width(1),
        )))?;
        chart.draw_series(axis.ticks.iter().map(|(p, label)| {
            EmptyElement::at((x, *p))
                + PathElement::new(vec![(-4, 0), (0, 0)], BLACK.stroke_width(1))
                + Text::new(label.clone(), (5, 0), label_style.clone())
        }))?;
    }
    Ok(())
}

/// A hyperparameter's categories with too few runs to be estimated, for a figure:
/// `laplacian: 1 run`.
fn left_out(h: &HyperparameterInfo, e: &MainEffect) -> Vec<String> {
    e.runs
        .iter()
        .enumerate()
        .filter(|(_, n)| **n < MIN_CATEGORY_RUNS)
        .map(|(j, n)| {
            format!(
                "{}: {n} run{}",
                h.categories.get(j).cloned().unwrap_or_default(),
                if *n == 1 { "" } else { "s" }
            )
        })
        .collect()
}

fn importance<DB: DrawingBackend>(a: &Analysis, root: &Area<DB>, title: &str) -> Drawn<DB> {
    let Some(imp) = &a.importance else {
        return no_data(root, title, "too few results for a GP");
    };
    // (name, share, text beside the bar)
    let mut rows: Vec<(String, Option<f64>, String)> = a
        .hyperparameters
        .iter()
        .zip(&imp.shares)
        .zip(&imp.effects)
        .map(|((h, share), e)| {
            let text = match share {
                Some(s) => {
                    let missing = left_out(h, e);
                    if missing.is_empty() || h.kind != "categorical" {
                        percent(*s)
                    } else {
                        format!("{} (without {})", percent(*s), missing.join(", "))
                    }
                }
                None if h.kind == "categorical" => {
                    format!("not estimable ({})", left_out(h, e).join(", "))
                }
                None => {
                    let tried: std::collections::BTreeSet<String> = a
                        .runs
                        .iter()
                        .filter(|r| r.state == RunState::Succeeded)
                        .filter_map(|r| r.params.get(&h.name).map(value_label))
                        .collect();
                    format!(
                        "not estimable ({} value{} tried)",
                        tried.len(),
                        if tried.len() == 1 { "" } else { "s" }
                    )
                }
            };
            (h.name.clone(), *share, text)
        })
        .collect();
    rows.push((
        "interactions".into(),
        Some(imp.interactions),
        percent(imp.interactions),
    ));
    let k = rows.len();
    // The first row at the top.
    let y = AxisSpec {
        ticks: (0..k).map(|i| (k - 1 - i) as f64).collect(),
        ..AxisSpec::items(rows.iter().map(|r| r.0.clone()).collect(), "")
    };
    let (ticks, _) = numbers::linear(0.0, 1.0, 5);
    let labels = ticks.iter().map(|t| percent(*t)).collect();
    let x = AxisSpec::new(
        (0.0, 1.0),
        (ticks, labels),
        "share of the variance of the GP mean (functional ANOVA, main effects)",
    );
    let mut chart = chart(root, title, &x, &y, 110)?;
    chart.draw_series(rows.iter().enumerate().filter_map(|(i, (name, share, _))| {
        let y = (k - 1 - i) as f64;
        let colour = if name == "interactions" {
            OTHER
        } else {
            SUCCEEDED
        };
        share.map(|s| Rectangle::new([(0.0, y - 0.35), (s, y + 0.35)], colour.filled()))
    }))?;
    let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let inside = TextStyle::from((FONT, 13).into_font())
        .pos(Pos::new(HPos::Right, VPos::Center))
        .color(&WHITE);
    chart.draw_series(rows.iter().enumerate().map(|(i, (_, share, text))| {
        let y = (k - 1 - i) as f64;
        // Beside the bar, or inside its end when the bar leaves no room.
        let (at, offset, style) = match share {
            Some(s) if *s > 0.8 => (*s, -6, inside.clone()),
            Some(s) => (*s, 6, style.clone()),
            None => (0.0, 6, style.color(&FAILED)),
        };
        EmptyElement::at((at, y)) + Text::new(text.clone(), (offset, 0), style)
    }))?;
    Ok(())
}

/// A share as a percentage: whole percents, one decimal between 0.05% and 1%.
fn percent(share: f64) -> String {
    let p = share * 100.0;
    if (0.05..1.0).contains(&p) {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

fn effect<DB: DrawingBackend>(a: &Analysis, i: usize, root: &Area<DB>, title: &str) -> Drawn<DB> {
    let (Some(imp), Some(h)) = (&a.importance, a.hyperparameters.get(i)) else {
        return no_data(root, title, "too few results for a GP");
    };
    let Some(e) = imp.effects.get(i) else {
        return no_data(root, title, "no main effect");
    };
    let xs: Vec<f64> = e
        .values
        .iter()
        .map(|v| axis_x(h, v).unwrap_or(f64::NAN))
        .collect();
    let shown: Vec<usize> = (0..xs.len())
        .filter(|j| e.estimated.get(*j).copied().unwrap_or(false))
        .collect();
    let band = |j: &usize| [e.lower[*j], e.upper[*j]];
    let y_range = if shown.is_empty() {
        padded(losses(a))
    } else {
        padded(shown.iter().flat_map(band))
    };
    let y_desc = format!("mean {}", a.loss_label);
    let mut chart = chart(
        root,
        title,
        &AxisSpec::of(h),
        &AxisSpec::linear(y_range, &y_desc),
        72,
    )?;
    let middle = (y_range.0 + y_range.1) / 2.0;
    let note_style =
        TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    if h.kind == "categorical" {
        for j in &shown {
            chart.draw_series(LineSeries::new(
                vec![(xs[*j], e.lower[*j]), (xs[*j], e.upper[*j])],
                SUCCEEDED.stroke_width(2),
            ))?;
        }
        chart.draw_series(
            shown
                .iter()
                .map(|j| Circle::new((xs[*j], e.mean[*j]), 5, SUCCEEDED.filled())),
        )?;
        // A category without enough runs says so at its own place.
        chart.draw_series((0..xs.len()).filter(|j| !shown.contains(j)).map(|j| {
            let n = e.runs.get(j).copied().unwrap_or(0);
            let text = format!("{n} run{}: not estimated", if n == 1 { "" } else { "s" });
            Text::new(text, (xs[j], middle), note_style.color(&FAILED))
        }))?;
        return Ok(());
    }
    if e.estimable {
        let mut band: Vec<(f64, f64)> = xs.iter().copied().zip(e.upper.iter().copied()).collect();
        band.extend(xs.iter().copied().zip(e.lower.iter().copied()).rev());
        chart.draw_series(std::iter::once(Polygon::new(band, SUCCEEDED.mix(0.2))))?;
        chart.draw_series(LineSeries::new(
            xs.iter().copied().zip(e.mean.iter().copied()),
            SUCCEEDED.stroke_width(2),
        ))?;
    } else {
        let x_range = axis_range(h);
        chart.draw_series(std::iter::once(Text::new(
            "not estimable: too few distinct values tried".to_string(),
            ((x_range.0 + x_range.1) / 2.0, middle),
            note_style.color(&FAILED),
        )))?;
    }
    // Where the results are: a rug of the tried values along the bottom.
    let tried: Vec<f64> = a
        .runs
        .iter()
        .filter(|r| r.state == RunState::Succeeded)
        .filter_map(|r| axis_x(h, r.params.get(&h.name)?))
        .collect();
    chart.draw_series(tried.iter().map(|x| {
        EmptyElement::at((*x, y_range.0))
            + PathElement::new(vec![(0, 0), (0, -8)], BLACK.mix(0.6).stroke_width(1))
    }))?;
    Ok(())
}

fn failures<DB: DrawingBackend>(a: &Analysis, root: &Area<DB>, title: &str) -> Drawn<DB> {
    let top = a.failures.iter().map(|f| f.count).max().unwrap_or(1) as f64;
    let x = AxisSpec::items(a.failures.iter().map(|f| f.kind.clone()).collect(), "");
    let y = AxisSpec::integer((0.0, top * 1.15), "runs");
    let mut chart = chart(root, title, &x, &y, 60)?;
    chart.draw_series(a.failures.iter().enumerate().map(|(i, f)| {
        let x = i as f64;
        Rectangle::new([(x - 0.3, 0.0), (x + 0.3, f.count as f64)], FAILED.filled())
    }))?;
    Ok(())
}
