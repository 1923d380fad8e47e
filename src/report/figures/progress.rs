//! The figures of a search's course in time and compute: run time per run, the best loss
//! against the compute used, and the learning curves that early stopping judged.

use super::*;

pub(super) fn run_time<DB: DrawingBackend>(
    a: &Analysis,
    root: &Area<DB>,
    title: &str,
) -> Drawn<DB> {
    let timed: Vec<(&Run, f64)> = a
        .runs
        .iter()
        .filter_map(|r| Some((r, r.minutes?)))
        .collect();
    if timed.is_empty() {
        return no_data(root, title, "no run has started yet");
    }
    let top = timed.iter().map(|t| t.1).fold(0.0, f64::max).max(1e-3);
    let mut chart = chart(
        root,
        title,
        &id_axis(a),
        &AxisSpec::linear((0.0, top * 1.1), "minutes"),
        72,
    )?;
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

/// Runs stopped early, at the loss of their last reported result: hollow, apart from the runs
/// that finished.
pub(super) fn draw_pruned<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    points: &[(f64, f64)],
) -> Drawn<DB> {
    if points.is_empty() {
        return Ok(());
    }
    chart
        .draw_series(
            points
                .iter()
                .map(|p| Circle::new(*p, 4, OTHER.stroke_width(2))),
        )?
        .label("pruned (at its last result)")
        .legend(|(x, y)| Circle::new((x, y), 4, OTHER.stroke_width(2)));
    Ok(())
}

/// The best loss so far against the hours the runs had used (GPU-hours for GPU jobs), runs in
/// the order they ended: what each hour of compute bought, pruned runs included in the hours.
pub(super) fn best_vs_compute<DB: DrawingBackend>(
    a: &Analysis,
    root: &Area<DB>,
    title: &str,
) -> Drawn<DB> {
    let mut ended: Vec<&Run> = a
        .runs
        .iter()
        .filter(|r| r.state.is_final() && r.minutes.is_some())
        .collect();
    if !ended
        .iter()
        .any(|r| r.state == RunState::Succeeded && r.loss.is_some())
    {
        return no_data(root, title, "no run has succeeded yet");
    }
    ended.sort_by(|x, y| {
        x.finished_at
            .unwrap_or(f64::INFINITY)
            .total_cmp(&y.finished_at.unwrap_or(f64::INFINITY))
            .then(x.id.cmp(&y.id))
    });
    // GPU jobs count GPU-hours: the same GPUs per run throughout a search.
    let gpus_per_run = if a.compute.run_hours > 0.0 {
        a.compute.gpu_hours / a.compute.run_hours
    } else {
        0.0
    };
    let (unit, scale) = if gpus_per_run > 0.0 {
        ("GPU-hours", gpus_per_run)
    } else {
        ("run-hours", 1.0)
    };
    let mut used = 0.0;
    let mut succeeded = Vec::new();
    let mut pruned = Vec::new();
    for r in ended {
        used += r.minutes.unwrap_or(0.0) / 60.0 * scale;
        match (r.state, r.loss) {
            (RunState::Succeeded, Some(loss)) => succeeded.push((used, loss)),
            (RunState::Pruned, Some(loss)) => pruned.push((used, loss)),
            _ => {}
        }
    }
    let best = succeeded.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let first = succeeded.first().map_or(best, |p| p.1);
    let (y0, y1) = padded([best, first].into_iter().chain(pruned.iter().map(|p| p.1)));
    let mut chart = chart(
        root,
        title,
        &AxisSpec::linear((0.0, used.max(1e-9) * 1.02), unit),
        &AxisSpec::linear((y0, y1), &a.loss_label),
        72,
    )?;
    draw_pruned(&mut chart, &pruned)?;
    draw_best_so_far(&mut chart, &succeeded, used)?;
    // The best-so-far line falls from the upper left and pruned runs stand high: the lower left
    // is where the legend hides nothing.
    draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)
}

/// The best loss so far as a staircase over `points` (x increasing), carried on to `x_end`.
pub(super) fn draw_best_so_far<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    points: &[(f64, f64)],
    x_end: f64,
) -> Drawn<DB> {
    let mut best = f64::INFINITY;
    let mut steps = Vec::new();
    for (x, y) in points {
        if *y < best {
            if best.is_finite() {
                steps.push((*x, best));
            }
            best = *y;
        }
        steps.push((*x, best));
    }
    if let Some(last) = steps.last().copied() {
        steps.push((x_end, last.1));
    }
    chart
        .draw_series(LineSeries::new(steps, BEST.stroke_width(2)))?
        .label("best so far")
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], BEST.stroke_width(2)));
    Ok(())
}

/// Each run's loss against its step: finished runs in blue (the best in green, on top), pruned
/// runs dashed grey with a hollow mark where they were stopped, runs in flight light blue.
pub(super) fn learning_curves<DB: DrawingBackend>(
    a: &Analysis,
    root: &Area<DB>,
    title: &str,
) -> Drawn<DB> {
    let last_step = a
        .curves
        .iter()
        .filter_map(|c| c.points.last().map(|p| p.0))
        .max()
        .unwrap_or(1);
    let (y0, y1) = padded(a.curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)));
    let mut chart = chart(
        root,
        title,
        &AxisSpec::integer((0.5, last_step as f64 + 0.5), "step"),
        &AxisSpec::linear((y0, y1), &a.loss_label),
        72,
    )?;
    let best = a
        .runs
        .iter()
        .filter(|r| r.state == RunState::Succeeded)
        .filter_map(|r| r.loss.map(|l| (l, r.id)))
        .min_by(|x, y| x.0.total_cmp(&y.0))
        .map(|(_, id)| id);
    let line = |c: &super::super::curves::LearningCurve| -> Vec<(f64, f64)> {
        c.points.iter().map(|(s, l)| (*s as f64, *l)).collect()
    };
    let running = SUCCEEDED.mix(0.35);
    let mut labelled = [false; 3];
    for c in a.curves.iter().filter(|c| c.state != RunState::Pruned) {
        if Some(c.id) == best {
            continue;
        }
        let (style, i, label) = if c.state == RunState::Succeeded {
            (SUCCEEDED.mix(0.7).stroke_width(1), 0, "finished")
        } else {
            (running.stroke_width(1), 1, "running or ended otherwise")
        };
        let series = chart.draw_series(LineSeries::new(line(c), style))?;
        if !labelled[i] {
            labelled[i] = true;
            series
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], style));
        }
    }
    for c in a.curves.iter().filter(|c| c.state == RunState::Pruned) {
        let points = line(c);
        let style = OTHER.stroke_width(1);
        let series = chart.draw_series(DashedLineSeries::new(points.clone(), 4, 3, style))?;
        if !labelled[2] {
            labelled[2] = true;
            series
                .label("pruned (○: where it stopped)")
                .legend(move |(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], style));
        }
        if let Some(end) = points.last() {
            chart.draw_series(std::iter::once(Circle::new(*end, 3, OTHER.stroke_width(1))))?;
        }
    }
    if let Some(c) = a.curves.iter().find(|c| Some(c.id) == best) {
        chart
            .draw_series(LineSeries::new(line(c), BEST.stroke_width(3)))?
            .label(format!("best run ({})", c.id))
            .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], BEST.stroke_width(3)));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}
