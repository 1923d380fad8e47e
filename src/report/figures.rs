//! The report's figures, drawn once per backend: SVG (inline in the HTML, served by the
//! dashboard) and PNG files. Text uses the DejaVu Sans font bundled in the binary, so rendering
//! needs no system font library.
//!
//! Log-scale hyperparameters are drawn on a linear axis of log10(value) whose tick labels show
//! the values themselves; categories sit at 0, 1, 2, ... with their labels.

use super::analysis::{value_label, Analysis, HyperparameterInfo, Run};
use crate::store::RunState;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub const WIDTH: u32 = 820;
pub const HEIGHT: u32 = 460;

const SUCCEEDED: RGBColor = RGBColor(31, 119, 180);
const FAILED: RGBColor = RGBColor(214, 39, 40);
const BEST: RGBColor = RGBColor(44, 160, 44);
const OTHER: RGBColor = RGBColor(127, 127, 127);
const FONT: &str = "sans-serif";

static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

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
    };
    result.map_err(|e| format!("drawing {title}: {e}"))
}

type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

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

fn history<DB: DrawingBackend>(a: &Analysis, root: &Area<DB>, title: &str) -> Drawn<DB> {
    let finished: Vec<&Run> = a.runs.iter().filter(|r| r.state.is_final()).collect();
    if finished.is_empty() {
        return no_data(root, title, "no run has finished yet");
    }
    let (y0, y1) = padded(losses(a));
    let x1 = a.runs.iter().map(|r| r.id).max().unwrap_or(0) as f64 + 1.0;
    let mut chart = combination_chart(root, title, x1, (y0, y1), &a.loss_label)?;
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
    let mut best = f64::INFINITY;
    let mut steps = Vec::new();
    for (x, y) in &ok {
        if *y < best {
            if best.is_finite() {
                steps.push((*x, best));
            }
            best = *y;
        }
        steps.push((*x, best));
    }
    if let Some(last) = steps.last().copied() {
        steps.push((x1 - 0.5, last.1));
    }
    chart
        .draw_series(LineSeries::new(steps, BEST.stroke_width(2)))?
        .label("best so far")
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], BEST.stroke_width(2)));
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

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
        .border_style(BLACK)
        .position(at)
        .draw()
}

/// Where a value sits on a hyperparameter's axis.
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

/// The label of the item at a whole-number position of an axis of items; none between them.
fn index_label(labels: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 {
        labels.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

fn tick_label(h: &HyperparameterInfo, x: f64) -> String {
    if h.kind == "categorical" {
        return index_label(&h.categories, x);
    }
    let v = if h.log_scale { 10f64.powf(x) } else { x };
    short_number(v)
}

pub fn short_number(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-3 {
        format!("{v:.1e}")
    } else {
        let text = format!("{v:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A chart with the combinations' ids on x (up to `x1`) and `y_desc` on y, its mesh drawn.
fn combination_chart<'a, DB: DrawingBackend + 'a>(
    root: &'a Area<DB>,
    title: &str,
    x1: f64,
    (y0, y1): (f64, f64),
    y_desc: &str,
) -> Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(-0.5..x1 - 0.5, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc("combination id")
        .y_desc(y_desc)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .draw()?;
    Ok(chart)
}

/// A chart with one hyperparameter on x (its name, unit and scale; categories by name) and a
/// loss on y, its mesh drawn.
fn hyperparameter_chart<'a, DB: DrawingBackend + 'a>(
    root: &'a Area<DB>,
    title: &str,
    h: &HyperparameterInfo,
    (y0, y1): (f64, f64),
    y_desc: &str,
) -> Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (x0, x1) = axis_range(h);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let formatter = |x: &f64| tick_label(h, *x);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(h.label())
        .y_desc(y_desc)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .x_label_formatter(&formatter);
    if h.kind == "categorical" {
        mesh.x_labels(h.categories.len() * 2 + 1);
    }
    mesh.draw()?;
    Ok(chart)
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
    let mut chart = hyperparameter_chart(root, title, h, padded(losses(a)), &a.loss_label)?;
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
    let dims = a.hyperparameters.len();
    let title = format!("{title} ({shown} best; green is best)");
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(16)
        .margin_left(40)
        .margin_right(40)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d(-0.1..(dims as f64 - 0.9), -0.08..1.08)?;
    let names: Vec<String> = a.hyperparameters.iter().map(|h| h.name.clone()).collect();
    let formatter = |x: &f64| index_label(&names, *x);
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_y_axis()
        .x_labels(dims * 2 + 1)
        .x_label_formatter(&formatter)
        .label_style((FONT, 13))
        .draw()?;
    for (i, h) in a.hyperparameters.iter().enumerate() {
        let x = i as f64;
        chart.draw_series(LineSeries::new(
            vec![(x, 0.0), (x, 1.0)],
            BLACK.stroke_width(1),
        ))?;
        let (low, high) = if h.kind == "categorical" {
            (
                h.categories.first().cloned().unwrap_or_default(),
                h.categories.last().cloned().unwrap_or_default(),
            )
        } else {
            (
                short_number(h.low.unwrap_or(0.0)),
                short_number(h.high.unwrap_or(1.0)),
            )
        };
        chart.draw_series([
            Text::new(high, (x, 1.06), (FONT, 12).into_font()),
            Text::new(low, (x, -0.02), (FONT, 12).into_font()),
        ])?;
    }
    let n = ok.len().max(2) - 1;
    for (rank, run) in ok.iter().enumerate().rev() {
        let colour = rank_colour(rank as f64 / n as f64);
        let line: Vec<(f64, f64)> = run
            .unit_point
            .iter()
            .enumerate()
            .map(|(i, u)| (i as f64, *u))
            .collect();
        chart.draw_series(LineSeries::new(line, colour.stroke_width(2)))?;
    }
    Ok(())
}

fn importance<DB: DrawingBackend>(a: &Analysis, root: &Area<DB>, title: &str) -> Drawn<DB> {
    let Some(imp) = &a.importance else {
        return no_data(root, title, "too few results for a GP");
    };
    let mut rows: Vec<(String, f64)> = a
        .hyperparameters
        .iter()
        .zip(&imp.shares)
        .map(|(h, s)| (h.name.clone(), *s))
        .collect();
    rows.push(("interactions".into(), imp.interactions));
    let k = rows.len();
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(140)
        .build_cartesian_2d(0.0..1.0, -0.5..(k as f64 - 0.5))?;
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    // The first row is drawn at the top.
    let formatter = |y: &f64| index_label(&labels, k as f64 - 1.0 - y);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(k * 2 + 1)
        .y_label_formatter(&formatter)
        .x_desc("share of the variance of the GP mean (functional ANOVA, main effects)")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()?;
    chart.draw_series(rows.iter().enumerate().map(|(i, (name, share))| {
        let y = (k - 1 - i) as f64;
        let colour = if name == "interactions" {
            OTHER
        } else {
            SUCCEEDED
        };
        Rectangle::new([(0.0, y - 0.35), (*share, y + 0.35)], colour.filled())
    }))?;
    chart.draw_series(rows.iter().enumerate().map(|(i, (_, share))| {
        let y = (k - 1 - i) as f64;
        Text::new(
            format!("{:.0}%", share * 100.0),
            ((share + 0.01).min(0.93), y + 0.1),
            (FONT, 13).into_font(),
        )
    }))?;
    Ok(())
}

fn effect<DB: DrawingBackend>(a: &Analysis, i: usize, root: &Area<DB>, title: &str) -> Drawn<DB> {
    let (Some(imp), Some(h)) = (&a.importance, a.hyperparameters.get(i)) else {
        return no_data(root, title, "too few results for a GP");
    };
    let e = &imp.effects[i];
    let xs: Vec<f64> = e
        .values
        .iter()
        .map(|v| axis_x(h, v).unwrap_or(f64::NAN))
        .collect();
    let y_range = padded(e.lower.iter().chain(&e.upper).copied());
    let y_desc = format!("mean {}", a.loss_label);
    let mut chart = hyperparameter_chart(root, title, h, y_range, &y_desc)?;
    if h.kind == "categorical" {
        for (j, x) in xs.iter().enumerate() {
            chart.draw_series(LineSeries::new(
                vec![(*x, e.lower[j]), (*x, e.upper[j])],
                SUCCEEDED.stroke_width(2),
            ))?;
        }
        chart.draw_series(
            xs.iter()
                .zip(&e.mean)
                .map(|(x, m)| Circle::new((*x, *m), 5, SUCCEEDED.filled())),
        )?;
    } else {
        let mut band: Vec<(f64, f64)> = xs.iter().copied().zip(e.upper.iter().copied()).collect();
        band.extend(xs.iter().copied().zip(e.lower.iter().copied()).rev());
        chart.draw_series(std::iter::once(Polygon::new(band, SUCCEEDED.mix(0.2))))?;
        chart.draw_series(LineSeries::new(
            xs.iter().copied().zip(e.mean.iter().copied()),
            SUCCEEDED.stroke_width(2),
        ))?;
    }
    Ok(())
}

fn failures<DB: DrawingBackend>(a: &Analysis, root: &Area<DB>, title: &str) -> Drawn<DB> {
    let k = a.failures.len();
    let top = a.failures.iter().map(|f| f.count).max().unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..(k as f64 - 0.5), 0.0..top * 1.15)?;
    let labels: Vec<String> = a.failures.iter().map(|f| f.kind.clone()).collect();
    let formatter = |x: &f64| index_label(&labels, *x);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(k * 2 + 1)
        .x_label_formatter(&formatter)
        .y_label_formatter(&|y: &f64| {
            // Counts are whole numbers: no tick at 0.5.
            if (y - y.round()).abs() < 1e-9 {
                format!("{}", y.round())
            } else {
                String::new()
            }
        })
        .y_desc("runs")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .draw()?;
    chart.draw_series(a.failures.iter().enumerate().map(|(i, f)| {
        let x = i as f64;
        Rectangle::new([(x - 0.3, 0.0), (x + 0.3, f.count as f64)], FAILED.filled())
    }))?;
    Ok(())
}

fn run_time<DB: DrawingBackend>(a: &Analysis, root: &Area<DB>, title: &str) -> Drawn<DB> {
    let timed: Vec<(&Run, f64)> = a
        .runs
        .iter()
        .filter_map(|r| Some((r, r.minutes?)))
        .collect();
    if timed.is_empty() {
        return no_data(root, title, "no run has started yet");
    }
    let top = timed.iter().map(|t| t.1).fold(0.0, f64::max).max(1e-3);
    let x1 = a.runs.iter().map(|r| r.id).max().unwrap_or(0) as f64 + 1.0;
    let mut chart = combination_chart(root, title, x1, (0.0, top * 1.1), "minutes")?;
    for (state, colour, label) in [
        (RunState::Succeeded, SUCCEEDED, "succeeded"),
        (RunState::Failed, FAILED, "failed"),
        (RunState::Running, OTHER, "running / other"),
    ] {
        let bars: Vec<(f64, f64)> = timed
            .iter()
            .filter(|(r, _)| match state {
                RunState::Running => !matches!(r.state, RunState::Succeeded | RunState::Failed),
                s => r.state == s,
            })
            .map(|(r, m)| (r.id as f64, *m))
            .collect();
        if bars.is_empty() {
            continue;
        }
        chart
            .draw_series(
                bars.iter().map(|(x, m)| {
                    Rectangle::new([(x - 0.35, 0.0), (x + 0.35, *m)], colour.filled())
                }),
            )?
            .label(label)
            .legend(move |(x, y)| {
                Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], colour.filled())
            });
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}
