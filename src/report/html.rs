//! The report as HTML: one self-contained page (styles inline, figures as inline SVG, no
//! scripts, nothing fetched), and the same body as a fragment for the dashboard.

use super::analysis::{Analysis, Run, MIN_RUNS_TO_RECOMMEND};
use super::figures::Figure;
use super::numbers::{approx, sig_or_empty, value_text};
use serde_json::{Map, Value};
use std::fmt::Write;

/// How the page links to the runs' folders and the figure files.
pub struct Links {
    /// Prefix of a run's folder relative to the page (`../` when the page is in
    /// `hp_search_N/report/`); None: no file links (the dashboard, served over HTTP).
    pub search_folder: Option<String>,
    /// Prefix of the PNG/SVG files relative to the page; None: no file links.
    pub figures: Option<String>,
}

pub const STYLE: &str = "body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr.best td{background:#eef8ee}tr.failed td{color:#a00}
figure{margin:16px 0;border:1px solid #eee;padding:6px}figure svg{max-width:100%;height:auto}figcaption{font-size:13px;color:#555}
pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:13px}.note{color:#555;font-size:14px}.warn{color:#a40;font-weight:bold}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:8px}";

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path as a URL path: every byte outside the unreserved set percent-encoded.
fn url_path(path: &str) -> String {
    url_path_bytes(path.as_bytes())
}

/// A file-system path (any bytes) as a URL path, e.g. after `file://`: `#`, `?`, `%`, spaces and
/// non-ASCII bytes percent-encoded, so that a browser finds the same file.
pub fn url_path_bytes(path: &[u8]) -> String {
    let mut out = String::new();
    for &b in path {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A number for people: 4 significant digits (input.json, csv and json keep them whole).
fn number(x: Option<f64>) -> String {
    sig_or_empty(x)
}

/// A value for people: floats to 4 significant digits.
fn display_value(value: &Value) -> String {
    value_text(value)
}

fn params_text(params: &Map<String, Value>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", display_value(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The whole report page.
pub fn page(analysis: &Analysis, links: &Links, took_seconds: Option<f64>) -> String {
    let title = format!(
        "hpsearch report: search {} ({})",
        analysis.search_id, analysis.search_type
    );
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(&title)
    );
    out.push_str(&body(analysis, links));
    if let Some(seconds) = took_seconds {
        let _ = write!(
            out,
            "<p class=\"note\">Report generated in {seconds:.2} s.</p>"
        );
    }
    out.push_str("</body></html>\n");
    out
}

/// The report's content, without the page around it (the dashboard refreshes this).
pub fn body(a: &Analysis, links: &Links) -> String {
    let mut out = String::new();
    let s = &a.summary;
    let _ = write!(
        out,
        "<h1>Search {} · {}</h1><p class=\"note\">{} · state <b id=\"search-state\">{}</b>{} · {} combinations: <span id=\"count-succeeded\">{}</span> succeeded, {} failed, {} queued, {} running, {} cancelled{} · elapsed {:.1} min · objective: {}</p>",
        a.search_id,
        escape(&a.search_type),
        escape(&a.search_folder),
        escape(&a.state),
        a.end_reason
            .as_ref()
            .map(|r| format!(" ({})", escape(r)))
            .unwrap_or_default(),
        s.created,
        s.succeeded,
        s.failed,
        s.queued,
        s.running,
        s.cancelled,
        s.pruned_note(),
        s.elapsed_seconds / 60.0,
        escape(&a.loss_label)
    );
    if let Some(compute) = a.compute.describe() {
        let _ = write!(
            out,
            "<p class=\"note\" id=\"compute\">{}</p>",
            escape(&compute)
        );
    }
    recommendation(&mut out, a);
    near_best(&mut out, a);
    test_runs(&mut out, a);
    figures(&mut out, a, links);
    failures(&mut out, a, links);
    runs(&mut out, a, links);
    out
}

fn recommendation(out: &mut String, a: &Analysis) {
    out.push_str("<h2 id=\"recommendation\">Recommended setting</h2>");
    let Some(r) = &a.recommendation else {
        let why = a
            .no_recommendation
            .as_deref()
            .unwrap_or("no run has succeeded yet");
        let _ = write!(
            out,
            "<p class=\"warn\" id=\"no-recommendation\">Nothing is recommended: {}.</p><p class=\"note\">A setting is recommended only when it has run at least {MIN_RUNS_TO_RECOMMEND} times and is not significantly worse than the best. To test a setting of your choice: <code>hpsearch test {} --combination ID</code></p>",
            escape(why),
            escape(&a.search_folder)
        );
        return;
    };
    let input = serde_json::to_string_pretty(&r.input_json).unwrap_or_default();
    let _ = write!(
        out,
        "<p>Combination <b>{}</b>: {} (mean loss {}).</p><p>Why: {}.</p><p>Ready <code>input.json</code> (hpsearch adds <code>save_folder</code>; the test phase adds <code>\"phase\": \"test\"</code>):</p><pre id=\"best-input\">{}</pre><p class=\"note\">Run it once on the test data: <code>hpsearch test {} --combination {}</code></p>",
        r.id,
        escape(&params_text(&r.params)),
        number(Some(r.mean_loss)),
        escape(&r.why),
        escape(&input),
        escape(&a.search_folder),
        r.id
    );
}

fn near_best(out: &mut String, a: &Analysis) {
    let rep = &a.replicates;
    out.push_str("<h2 id=\"near-best\">Noise and the near-best set</h2>");
    if rep.judged {
        let _ = write!(
            out,
            "<p>{}.</p><p id=\"power\">Power: {}.</p><p class=\"note\">Test: {}. Only settings with at least {MIN_RUNS_TO_RECOMMEND} runs are recommended.</p>",
            escape(&rep.explanation),
            escape(rep.power.as_deref().unwrap_or("unknown")),
            escape(&rep.test)
        );
    } else {
        let _ = write!(
            out,
            "<p class=\"warn\">The near-best set cannot be judged: {}.</p>",
            escape(&rep.explanation)
        );
    }
    if rep.groups.is_empty() {
        return;
    }
    out.push_str("<table id=\"settings\"><tr><th>combination</th><th>runs</th><th>mean loss</th><th>sd</th><th>p (worse than best)</th><th title=\"the difference from the best mean the test finds 80% of the time\">detectable difference</th><th>near-best</th><th>complexity</th><th>setting</th></tr>");
    for g in rep.groups.iter().take(30) {
        let verdict = if !rep.judged {
            "?"
        } else if !g.near_best {
            "no"
        } else if g.n < MIN_RUNS_TO_RECOMMEND {
            "yes, 1 run"
        } else {
            "yes"
        };
        let _ = write!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if g.near_best && rep.judged { " class=\"best\"" } else { "" },
            g.id,
            g.n,
            number(Some(g.mean)),
            number(g.sd),
            g.p_value.map(|p| format!("{p:.3}")).unwrap_or_else(|| "—".into()),
            g.detectable.map(approx).unwrap_or_else(|| "—".into()),
            verdict,
            g.complexity.map(|c| format!("{c:.3}")).unwrap_or_default(),
            escape(&params_text(&g.params))
        );
    }
    out.push_str("</table>");
    if rep.groups.len() > 30 {
        let _ = write!(
            out,
            "<p class=\"note\">{} more settings are left out of this table; the run table lists every run.</p>",
            rep.groups.len() - 30
        );
    }
}

fn test_runs(out: &mut String, a: &Analysis) {
    if a.test_runs.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"test-runs\">Test phase</h2>");
    if a.test_runs.len() > 1 {
        let _ = write!(
            out,
            "<p class=\"warn\">The test data was used {} times: a test score chosen among several is no longer an unbiased estimate of the final performance.</p>",
            a.test_runs.len()
        );
    }
    out.push_str("<table><tr><th>test run</th><th>combination</th><th>state</th><th>objective</th><th>loss</th><th>reason</th></tr>");
    for t in &a.test_runs {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.id,
            t.combination_id,
            t.state.name(),
            number(t.objective),
            number(t.loss),
            escape(t.failure_reason.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</table>");
}

fn figures(out: &mut String, a: &Analysis, links: &Links) {
    out.push_str("<h2 id=\"figures\">Figures</h2>");
    if let Some(imp) = &a.importance {
        let _ = write!(
            out,
            "<p class=\"note\">Importance and main effects: {}. They describe the GP's mean averaged over the other hyperparameters, while the near-best table ranks the settings as measured: a hyperparameter can matter little on average and still differ among the best settings, or the other way round.</p>",
            escape(&imp.method)
        );
        if !imp.notes.is_empty() {
            out.push_str("<ul id=\"importance-notes\">");
            for note in &imp.notes {
                let _ = write!(out, "<li>{}.</li>", escape(note));
            }
            out.push_str("</ul>");
        }
    } else {
        out.push_str(
            "<p class=\"note\">Importance and main effects need at least 4 successful results.</p>",
        );
    }
    out.push_str("<div class=\"figures\">");
    for figure in Figure::all(a) {
        let stem = figure.stem(a);
        let svg = figure
            .svg(a)
            .map(|svg| strip_xml_prolog(&svg).to_string())
            .unwrap_or_else(|e| format!("<p class=\"warn\">{}</p>", escape(&e)));
        let files = links
            .figures
            .as_ref()
            .map(|prefix| {
                format!(
                    " · <a href=\"{0}{1}.png\">PNG</a> · <a href=\"{0}{1}.svg\">SVG</a>",
                    escape(prefix),
                    url_path(&stem)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            out,
            "<figure id=\"fig-{}\" class=\"figure\">{svg}<figcaption>{}{files}</figcaption></figure>",
            escape(&stem),
            escape(&figure.title(a))
        );
    }
    out.push_str("</div>");
}

fn strip_xml_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn run_link(links: &Links, run: &Run, file: &str, text: &str) -> String {
    match &links.search_folder {
        Some(prefix) => format!(
            "<a href=\"{}{}\">{}</a>",
            escape(prefix),
            url_path(&format!("hp_combination_{}/{file}", run.id)),
            escape(text)
        ),
        None => escape(text),
    }
}

fn failures(out: &mut String, a: &Analysis, links: &Links) {
    out.push_str("<h2 id=\"failures\">Failures</h2>");
    if a.failures.is_empty() {
        out.push_str("<p>No run failed.</p>");
        return;
    }
    out.push_str("<table><tr><th>reason</th><th>runs</th><th>combinations (log)</th></tr>");
    for f in &a.failures {
        let listed: Vec<String> = f
            .ids
            .iter()
            .filter_map(|id| a.runs.iter().find(|r| r.id == *id))
            .map(|r| run_link(links, r, "log.txt", &r.id.to_string()))
            .collect();
        let _ = write!(
            out,
            "<tr class=\"failed\"><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&f.kind),
            f.count,
            listed.join(" ")
        );
    }
    out.push_str("</table>");
}

fn runs(out: &mut String, a: &Analysis, links: &Links) {
    out.push_str("<h2 id=\"runs\">Runs</h2><table id=\"run-table\"><tr><th>id</th><th>state</th><th>loss</th><th>objective</th>");
    for h in &a.hyperparameters {
        let _ = write!(out, "<th>{}</th>", escape(&h.label()));
    }
    out.push_str("<th>minutes</th><th>job</th><th>scheduler state</th><th>peak MB</th><th>type</th><th>log</th><th>failure reason</th></tr>");
    let best = a.summary.best_id;
    for r in &a.runs {
        let class = if Some(r.id) == best {
            " class=\"best\""
        } else if r.state == crate::store::RunState::Failed {
            " class=\"failed\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr{class} data-id=\"{}\"><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td>",
            r.id,
            run_link(links, r, "", &r.id.to_string()),
            r.state.name(),
            number(r.loss),
            if r.imputed { " (imputed)" } else { "" },
            number(r.objective)
        );
        for h in &a.hyperparameters {
            let value = r.params.get(&h.name).map(display_value).unwrap_or_default();
            let _ = write!(out, "<td>{}</td>", escape(&value));
        }
        let _ = write!(
            out,
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            number(r.minutes),
            escape(r.job_id.as_deref().unwrap_or("")),
            escape(r.scheduler_state.as_deref().unwrap_or("")),
            number(r.peak_memory_mb),
            escape(&r.search_type),
            run_link(links, r, "log.txt", "log"),
            escape(r.failure_reason.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_show_four_significant_digits() {
        assert_eq!(display_value(&Value::from(0.000129259744592)), "0.0001293");
        assert_eq!(display_value(&Value::from(1.1845480119136906)), "1.185");
        assert_eq!(display_value(&Value::from(2306.16630096027)), "2306");
        assert_eq!(display_value(&Value::from(3e-20)), "3e-20");
        assert_eq!(display_value(&Value::from(7)), "7");
        assert_eq!(display_value(&Value::from("rbf")), "rbf");
        assert_eq!(number(Some(3.3720285608491976)), "3.372");
    }

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
