//! After the search: `hpsearch report` (the HTML page and its figures, opened in a real browser),
//! the replicate phase and the near-best analysis, and `hpsearch test` (the chosen setting, once,
//! on the test data).

mod support;
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

// ---------------------------------------------------------------------------------------------
// What the user looks at: the page, its links, its figures.

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Writes search 0's report and returns its HTML.
fn report_html(project: &Project) -> String {
    project.hpsearch(&["report", "hp_search_0"]).ok();
    read(&project.search_dir(0).join("report/report.html"))
}

fn state(project: &Project, id: u64) -> Value {
    serde_json::from_str(&read(&project.search_dir(id).join("hp_search_state.json")))
        .expect("state json")
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// The `<figure>` element of one figure of the page (its inline SVG and caption).
fn figure<'a>(html: &'a str, stem: &str) -> &'a str {
    let open = format!("<figure id=\"fig-{stem}\"");
    let start = html
        .find(&open)
        .unwrap_or_else(|| panic!("no figure {stem} in the report"));
    let end = start + html[start..].find("</figure>").expect("figure closed");
    &html[start..end]
}

/// The texts an SVG draws (its `<text>` elements, trimmed): titles, axis labels, tick labels.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .map(|rest| {
            let body = &rest[rest.find('>').expect("tag closed") + 1..];
            html_unescape(body[..body.find("</text>").expect("text closed")].trim())
        })
        .filter(|t| !t.is_empty())
        .collect()
}

fn html_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = || u8::from_str_radix(text.get(i + 1..i + 3)?, 16).ok();
        match (bytes[i], hex()) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("utf-8 path")
}

/// Every `href` of the page, as the browser reads it.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .map(|rest| html_unescape(&rest[..rest.find('"').expect("attribute closed")]))
        .collect()
}

/// Where a link of a page in `folder` leads on disk, as a browser resolves it: a fragment or a
/// query ends the path, `%XX` is a byte, relative links start at the page's folder.
fn link_target(folder: &Path, href: &str) -> PathBuf {
    let path = href.split(['#', '?']).next().unwrap_or("");
    match path.strip_prefix("file://") {
        Some(absolute) => PathBuf::from(percent_decode(absolute)),
        None => {
            assert!(
                !path.contains("://"),
                "a self-contained report links only to local files: {href}"
            );
            folder.join(percent_decode(path))
        }
    }
}

/// Asserts that every link of the page leads to a file or folder that exists; returns them.
fn assert_links_resolve(html: &str, page: &Path) -> Vec<PathBuf> {
    let folder = page.parent().unwrap();
    let links = hrefs(html);
    assert!(
        !links.is_empty(),
        "the report links to its runs and figures"
    );
    links
        .iter()
        .map(|href| {
            let target = link_target(folder, href);
            assert!(
                target.exists(),
                "link {href:?} of {} leads nowhere ({})",
                page.display(),
                target.display()
            );
            target
        })
        .collect()
}

/// The rows of `<table id="ID">` as cells with their tags stripped.
fn table(html: &str, id: &str) -> Vec<Vec<String>> {
    let open = format!("<table id=\"{id}\">");
    let start = html.find(&open).unwrap_or_else(|| panic!("no table {id}"));
    let end = start + html[start..].find("</table>").unwrap();
    html[start..end]
        .split("<tr")
        .skip(2)
        .map(|row| {
            row.split("<td>")
                .skip(1)
                .map(|cell| {
                    let cell = &cell[..cell.find("</td>").unwrap()];
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in cell.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    html_unescape(&text)
                })
                .collect()
        })
        .collect()
}

/// Decodes a PNG the report wrote and checks it is a drawn 820×460 figure, not a blank canvas.
fn assert_png_drawn(path: &Path) {
    let decoder = png::Decoder::new(std::fs::File::open(path).expect("png file"));
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buffer)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    assert_eq!(
        (info.width, info.height),
        (820, 460),
        "{} has the figure size",
        path.display()
    );
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let pixel = info.color_type.samples();
    let pixels: Vec<&[u8]> = buffer[..info.buffer_size()].chunks(pixel).collect();
    let background = pixels[0];
    let drawn = pixels.iter().filter(|p| **p != background).count();
    let colours: std::collections::BTreeSet<&[u8]> = pixels.iter().copied().collect();
    assert!(
        drawn * 100 > pixels.len() && colours.len() >= 3,
        "{} looks blank: {drawn} of {} pixels drawn, {} colours",
        path.display(),
        pixels.len(),
        colours.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Scripts.

/// A training script with a log-scale learning rate and an optimizer: `broken` exits 3, `sgd`
/// with a learning rate above 0.05 "diverges" and writes nothing. Loss: (log10(lr) + 2.5)², plus
/// 0.5 for sgd.
const TRAIN: &str = r#"#!/bin/sh
lr=$(sed -n 's/.*"lr": *\([0-9.eE+-]*\).*/\1/p' "$1")
opt=$(sed -n 's/.*"optimizer": *"\([a-z]*\)".*/\1/p' "$1")
if [ "$opt" = broken ]; then echo "RuntimeError: optimizer exploded" >&2; exit 3; fi
if [ "$opt" = sgd ] && awk "BEGIN{exit !($lr > 0.05)}"; then echo "diverged"; exit 0; fi
awk -v lr="$lr" -v opt="$opt" 'BEGIN{l = log(lr)/log(10) + 2.5; printf "%.6f\n", l*l + (opt == "sgd" ? 0.5 : 0)}' > output.json
"#;

/// A grid search of TRAIN: 3 learning rates × 3 optimizers, 5 succeed, 3 exit 3, 1 writes nothing.
fn ended_training_search(project: &Project) {
    project.script("train.sh", TRAIN);
    project.configs(
        "/bin/sh",
        "train.sh",
        json!({
            "lr": {"type": "continuous", "domain": [1e-4, 0.1], "transformation": "log", "unit": "per step"},
            "optimizer": {"type": "categorical", "domain": ["sgd", "adam", "broken"]},
            "epochs": 3
        }),
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 3,
               "max_active_points": 3, "y_transformation": "none"}),
    );
    project.hpsearch(&["run", "."]).ok();
}

/// The figures of a 2-hyperparameter search with ≥ 4 successes and some failures, in the
/// report's order (`Figure::all`).
const TRAINING_FIGURES: [&str; 10] = [
    "history",
    "param_0_lr",
    "param_1_optimizer",
    "parallel_coordinates",
    "importance",
    "effect_0_lr",
    "effect_1_optimizer",
    "failures",
    "run_time",
    "best_vs_compute",
];

// ---------------------------------------------------------------------------------------------
// 1. The report of a search with failures.

#[test]
fn report_shows_every_figure_the_units_the_failures_and_links_to_the_logs() {
    let project = Project::new();
    ended_training_search(&project);
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 9);
    let failed: Vec<&_> = rows.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 4, "3 broken + 1 diverged");

    let started = Instant::now();
    let run = project.hpsearch(&["report", "hp_search_0"]).ok();
    let took = started.elapsed();
    let report_dir = project.search_dir(0).join("report");
    let page = report_dir.join("report.html");
    assert!(
        run.stdout
            .lines()
            .any(|l| l == format!("report: {}", page.display())),
        "prints the page's path: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "figures: 20 files (PNG and SVG) in {}",
            report_dir.join("figures").display()
        )),
        "{}",
        run.stdout
    );
    assert!(
        took < Duration::from_secs(20),
        "a report of 9 runs takes {took:?}"
    );
    let html = read(&page);

    // Self-contained: figures inline, nothing to run or fetch.
    assert_eq!(
        count(&html, "<svg"),
        TRAINING_FIGURES.len(),
        "one SVG per figure"
    );
    for stem in TRAINING_FIGURES {
        assert_eq!(
            count(figure(&html, stem), "<svg"),
            1,
            "{stem} is drawn inline"
        );
    }
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("<img"), "no images to fetch");
    assert!(!html.contains("<link"), "no style sheets to fetch");

    // The unit and the log scale label the learning-rate axes; the categories label theirs.
    let label = "lr [per step] (log scale)".to_string();
    for stem in ["param_0_lr", "effect_0_lr"] {
        let texts = svg_texts(figure(&html, stem));
        assert!(
            texts.contains(&label),
            "{label} on the axis of {stem}: {texts:?}"
        );
        // Ticks of a log axis show the values themselves.
        assert!(
            texts.contains(&"0.001".to_string()) && texts.contains(&"0.01".to_string()),
            "{stem}: {texts:?}"
        );
    }
    assert!(
        html.contains(&format!("<th>{label}</th>")),
        "and in the run table"
    );
    for stem in ["param_1_optimizer", "effect_1_optimizer"] {
        let texts = svg_texts(figure(&html, stem));
        for category in ["sgd", "adam", "broken"] {
            assert!(
                texts.contains(&category.to_string()),
                "category {category} labels the optimizer axis of {stem}: {texts:?}"
            );
        }
    }

    let importance = svg_texts(figure(&html, "importance"));
    for bar in ["lr", "optimizer", "interactions"] {
        assert!(importance.contains(&bar.to_string()), "{importance:?}");
    }
    // Without replicates nothing is recommended: every setting ran once. The best run (adam
    // at lr = 10^-2.5, loss 0) is named as the lowest single loss.
    let best = rows
        .iter()
        .find(|r| r["optimizer"] == "adam" && r["loss"] == "0")
        .expect("adam at the middle learning rate scores 0");
    assert!(
        run.stdout.contains(&format!(
            "recommended: nothing (no setting has run more than once: one run mixes a setting's merit with the noise of the score, which is unknown without repeats. The lowest single loss is 0, by combination {}",
            best["combination_id"]
        )),
        "{}",
        run.stdout
    );

    // Failures: by kind, in the figure and the table, with the reason and links to the logs.
    let failures = svg_texts(figure(&html, "failures"));
    assert!(
        failures.contains(&"non_zero_exit".to_string())
            && failures.contains(&"missing_output".to_string()),
        "{failures:?}"
    );
    assert!(
        html.contains("<td>non_zero_exit</td><td>3</td>"),
        "3 exited non-zero"
    );
    assert!(
        html.contains("<td>missing_output</td><td>1</td>"),
        "1 wrote nothing"
    );
    assert!(
        html.contains("exited with code 3; last line of log.txt: RuntimeError: optimizer exploded")
    );
    let targets = assert_links_resolve(&html, &page);
    for row in &failed {
        let log = project
            .search_dir(0)
            .join(format!("hp_combination_{}", row["combination_id"]))
            .join("log.txt");
        assert!(
            html.contains(&format!(
                "href=\"../hp_combination_{}/log.txt\"",
                row["combination_id"]
            )),
            "the failure of combination {} links to its log",
            row["combination_id"]
        );
        assert!(targets.iter().any(|t| t
            .canonicalize()
            .is_ok_and(|t| t == log.canonicalize().unwrap())));
    }
    let broken = failed.iter().find(|r| r["optimizer"] == "broken").unwrap();
    let log = read(&project.search_dir(0).join(format!(
        "hp_combination_{}/log.txt",
        broken["combination_id"]
    )));
    assert!(
        log.contains("optimizer exploded"),
        "the linked log shows the error: {log}"
    );

    // Every figure is also a PNG and an SVG file, and the PNGs are drawn.
    let figures = report_dir.join("figures");
    let mut files: Vec<String> = std::fs::read_dir(&figures)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut expected: Vec<String> = TRAINING_FIGURES
        .iter()
        .flat_map(|s| [format!("{s}.png"), format!("{s}.svg")])
        .collect();
    expected.sort();
    assert_eq!(files, expected);
    for stem in TRAINING_FIGURES {
        assert_png_drawn(&figures.join(format!("{stem}.png")));
        let svg = read(&figures.join(format!("{stem}.svg")));
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{stem}.svg");
        assert!(
            html.contains(&format!("href=\"figures/{stem}.png\"")),
            "the page links to {stem}.png"
        );
    }
    assert!(svg_texts(&read(&figures.join("param_0_lr.svg"))).contains(&label));
}

/// The report written elsewhere (`--out`) links back to the search with absolute file URLs; a
/// project folder whose name has a space, `#` and `%` must not break them.
#[test]
fn a_report_written_elsewhere_links_back_to_the_runs() {
    let project = Project::in_folder_named("lab notes #3 (50% done, Müller)");
    ended_training_search(&project);
    let out = project.path.join("shared reports");
    let run = project
        .hpsearch(&["report", "hp_search_0", "--out", "shared reports"])
        .ok();
    let page = out.join("report.html");
    assert!(
        run.stdout.contains(&format!("report: {}", page.display())),
        "{}",
        run.stdout
    );
    let html = read(&page);
    assert_eq!(count(&html, "<svg"), TRAINING_FIGURES.len());
    let targets = assert_links_resolve(&html, &page);
    let search = project.search_dir(0).canonicalize().unwrap();
    let logs = targets
        .iter()
        .filter(|t| t.starts_with(&search) && t.ends_with("log.txt"))
        .count();
    assert!(
        logs >= 9,
        "links to the runs' logs in the search folder: {logs}"
    );
    assert!(out.join("figures/history.png").is_file());
}

// ---------------------------------------------------------------------------------------------
// 2. The page in a real browser.

/// Headless Chromium; its test is marked ignored, so it runs only with `--run-ignored`, and then
/// a missing Chromium is a failure that says how to install it.
fn chromium() -> PathBuf {
    let found = std::iter::once(PathBuf::from("/usr/bin/chromium"))
        .chain(std::env::var_os("PATH").into_iter().flat_map(|paths| {
            std::env::split_paths(&paths)
                .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
                .collect::<Vec<_>>()
        }))
        .find(|p| p.is_file());
    found.expect("Chromium is not installed: apt-get install chromium")
}

/// Loads `page` in headless Chromium; returns the DOM it built and its log (stderr).
fn open_in_chromium(browser: &Path, page: &Path) -> (String, String) {
    let profile = tempfile::tempdir().expect("profile dir");
    let child = Command::new(browser)
        .args(support::browser::CHROMIUM_FLAGS)
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let group = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(60)).is_err() {
            // Chromium hung: end it (the process group of our own child, by its id), so the
            // test fails instead of hanging.
            let _ = Command::new("kill")
                .args(["-9", "--", &format!("-{group}")])
                .status();
        }
    });
    let output = child.wait_with_output().expect("chromium output");
    let _ = done.send(());
    watchdog.join().unwrap();
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "chromium failed ({:?}):\n{log}",
        output.status
    );
    (dom, log)
}

#[test]
#[ignore = "needs Chromium: apt-get install chromium"]
fn the_report_opens_in_a_browser_with_every_figure_and_no_console_error() {
    let browser = chromium();
    let project = Project::new();
    ended_training_search(&project);
    project.hpsearch(&["report", "hp_search_0"]).ok();
    let page = project.search_dir(0).join("report/report.html");
    let (dom, log) = open_in_chromium(&browser, &page);
    assert!(
        dom.contains("</html>"),
        "a whole page was loaded: {dom:.500}"
    );
    assert!(dom.contains("Recommended setting"));
    assert_eq!(
        count(&dom, "<svg"),
        TRAINING_FIGURES.len(),
        "the browser built one SVG per figure"
    );
    for stem in TRAINING_FIGURES {
        assert!(
            dom.contains(&format!("id=\"fig-{stem}\"")),
            "{stem} in the DOM"
        );
    }
    // The page has no scripts, so the console must stay silent: any line is a problem (an
    // uncaught error, a blocked resource, a parse error).
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// 3. and 4. The near-best set.

/// Objective = base[x] + offset[k], where k counts the earlier runs of this x (runs are one at a
/// time): base = {1: 1.25, 2: 1.10, 3: 1.00, 4: 1.02}, offset = [0, +0.1, −0.1]. With 2 replicates
/// each setting's three runs are base, base + 0.1, base − 0.1; in the test phase it writes 42.
const NOISY: &str = r#"#!/bin/sh
if grep -q '"phase": "test"' "$1"; then echo 42 > output.json; exit 0; fi
x=$(sed -n 's/.*"x": *\([0-9]*\).*/\1/p' "$1")
mkdir -p "../../seen/x$x"
k=$(ls "../../seen/x$x" | wc -l)
touch "../../seen/x$x/$k"
case $x in 1) base=1.25 ;; 2) base=1.10 ;; 3) base=1.00 ;; 4) base=1.02 ;; esac
case $k in 0) off=0 ;; 1) off=0.1 ;; *) off=-0.1 ;; esac
awk "BEGIN{printf \"%.4f\n\", $base + $off}" > output.json
"#;

fn noisy_project(search: Value) -> Project {
    let project = Project::new();
    project.script("noisy.sh", NOISY);
    project.configs(
        "/bin/sh",
        "noisy.sh",
        json!({"x": {"type": "discrete", "domain": [1, 2, 3, 4], "simpler": "lower"}}),
        search,
    );
    project
}

fn id_of_x(rows: &[std::collections::BTreeMap<String, String>], x: &str) -> String {
    rows.iter()
        .find(|r| r["x"] == x && r["search_type"] == "grid")
        .unwrap_or_else(|| panic!("no grid row with x={x}"))["combination_id"]
        .clone()
}

/// By hand. Each setting x has losses {base, base + 0.1, base − 0.1}: mean base, sample
/// variance (0 + 0.01 + 0.01) / 2 = 0.01, so every group's sd is 0.1 and the pooled sd is 0.1
/// with 4 × 2 = 8 degrees of freedom. The best is x=3 (mean 1.00, n=3). Against it, the
/// standard error of a difference is 0.1·√(1/3 + 1/3) = 0.08165, and with Student's t (8 df):
///   x=4: t = 0.02 / 0.08165 = 0.245, one-sided p = 0.406 → near-best
///   x=2: t = 0.10 / 0.08165 = 1.225, p = 0.128            → near-best
///   x=1: t = 0.25 / 0.08165 = 3.062, p = 0.0078           → significantly worse
/// "simpler": "lower" on x: complexity (x − 1) / 3, so among {2, 3, 4} the simplest is x=2
/// (0.333), which is recommended over the best x=3 (0.667); x=1 is simpler still but not
/// near-best.
#[test]
fn replicates_estimate_the_noise_and_the_simplest_near_best_setting_is_recommended() {
    let project = noisy_project(json!({
        "search_type": "grid", "num_grid_points_per_hyperparameter": 4, "max_active_points": 1,
        "y_transformation": "none", "replicates": 2, "replicate_top_k": 4
    }));
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    assert_eq!(
        rows.len(),
        4 + 4 * 2,
        "4 grid points, then 2 replicates of each"
    );
    let replicates: Vec<_> = rows
        .iter()
        .filter(|r| r["search_type"] == "replicate")
        .collect();
    assert_eq!(replicates.len(), 8);
    for x in ["1", "2", "3", "4"] {
        let mut losses: Vec<&str> = rows
            .iter()
            .filter(|r| r["x"] == x)
            .map(|r| r["loss"].as_str())
            .collect();
        losses.sort();
        assert_eq!(losses.len(), 3, "x={x} ran 3 times");
        assert!(rows.iter().all(|r| r["status"] == "succeeded"));
    }
    let state = state(&project, 0);
    for c in state["combinations"].as_array().unwrap() {
        let of = &c["replicate_of"];
        if c["search_type"] == "replicate" {
            let original = &state["combinations"][of.as_u64().unwrap() as usize];
            assert_eq!(
                original["params"], c["params"],
                "a replicate repeats its setting"
            );
            assert_eq!(original["search_type"], "grid");
        } else {
            assert!(of.is_null());
        }
    }

    let (x1, x2, x3, x4) = (
        id_of_x(&rows, "1"),
        id_of_x(&rows, "2"),
        id_of_x(&rows, "3"),
        id_of_x(&rows, "4"),
    );
    let run = project.hpsearch(&["report", "hp_search_0"]).ok();
    let recommended = run
        .stdout
        .lines()
        .find(|l| l.starts_with("recommended: "))
        .unwrap_or_else(|| panic!("no recommendation: {}", run.stdout));
    assert!(
        recommended.starts_with(&format!("recommended: combination {x2} (the simplest of the 3 settings with at least 2 runs not significantly worse than the best")),
        "x=2 is recommended: {recommended}"
    );
    assert!(
        recommended.contains(&format!("for the best (combination {x3})"))
            && recommended.contains("p = 0.128"),
        "{recommended}"
    );

    let html = read(&project.search_dir(0).join("report/report.html"));
    assert!(
        html.contains("the noise of the loss is sd 0.1 (8 degrees of freedom from 4 repeated settings); 3 of 4 settings are not significantly worse than the best, 3 of them with at least 2 runs"),
        "pooled noise in the report"
    );
    // The power of the test, by hand: with 8 df, t(0.95) = 1.8595 and t(0.80) = 0.8889, so a
    // difference of (1.8595 + 0.8889) × 0.08165 = 0.224 is found 80% of the time.
    assert!(
        html.contains("Power: with 3 runs per setting and noise sd 0.1, a difference in mean loss smaller than ~0.22 would likely go undetected (the test finds such a difference 80% of the time at level 0.05)"),
        "the report states the power of the near-best test"
    );
    // combination, runs, mean loss, sd, p, detectable difference, near-best, complexity,
    // setting; best mean first.
    let settings = table(&html, "settings");
    let expected = [
        [&*x3, "3", "1", "0.1", "—", "—", "yes", "0.667", "x=3"],
        [
            &*x4, "3", "1.02", "0.1", "0.406", "0.22", "yes", "1.000", "x=4",
        ],
        [
            &*x2, "3", "1.1", "0.1", "0.128", "0.22", "yes", "0.333", "x=2",
        ],
        [
            &*x1, "3", "1.25", "0.1", "0.008", "0.22", "no", "0.000", "x=1",
        ],
    ];
    assert_eq!(settings, expected.map(|r| r.map(String::from)).to_vec());
    assert!(html.contains(&format!("Combination <b>{x2}</b>: x=2")));
    assert!(html.contains(&format!(
        "hpsearch test {} --combination {x2}",
        project.search_dir(0).display()
    )));

    // The test phase takes the recommended setting by default.
    let test = project.hpsearch(&["test", "hp_search_0"]).ok();
    assert!(
        test.stdout.contains(&format!(
            "testing the recommended setting, combination {x2}"
        )),
        "{}",
        test.stdout
    );
    let input: Value =
        serde_json::from_str(&read(&project.search_dir(0).join("test_run_0/input.json"))).unwrap();
    assert_eq!(input["x"], 2);
}

#[test]
fn without_replicates_the_report_says_the_near_best_set_cannot_be_judged() {
    let project = noisy_project(json!({
        "search_type": "grid", "num_grid_points_per_hyperparameter": 4, "max_active_points": 2,
        "y_transformation": "none"
    }));
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 4, "no replicate phase by default");
    let run = project.hpsearch(&["report", "hp_search_0"]).ok();
    let best = id_of_x(&rows, "3");
    // A single run's loss is not a measurement of its setting: nothing is recommended, and
    // the report says which run scored lowest and what to do.
    assert!(
        run.stdout.contains(&format!(
            "recommended: nothing (no setting has run more than once: one run mixes a setting's merit with the noise of the score, which is unknown without repeats. The lowest single loss is 1, by combination {best}"
        )),
        "{}",
        run.stdout
    );
    let html = read(&project.search_dir(0).join("report/report.html"));
    assert!(html.contains("The near-best set cannot be judged"));
    assert!(
        html.contains("Nothing is recommended: no setting has run more than once"),
        "the recommendation section says so plainly"
    );
    assert!(
        !html.contains("id=\"best-input\""),
        "no ready input.json for a setting that is not recommended"
    );
    assert!(
        html.contains("hpsearch replicate SEARCH"),
        "says how to fix it"
    );
    assert!(html.contains(&format!(
        "hpsearch test {} --combination ID",
        project.search_dir(0).display()
    )));
    let settings = table(&html, "settings");
    assert_eq!(settings.len(), 4);
    assert!(
        settings.iter().all(|r| r[6] == "?" && r[4] == "—"),
        "no verdict without replicates: {settings:?}"
    );

    // `hpsearch test` has nothing to choose: it says so and points to --combination.
    let test = project.hpsearch(&["test", "hp_search_0"]);
    assert_eq!(test.code, 1, "{}", test.stderr);
    assert!(
        test.stderr
            .contains("search 0 has no recommended setting to test")
            && test.stderr.contains("--combination ID"),
        "{}",
        test.stderr
    );
    assert!(
        !project.search_dir(0).join("test_run_0").exists(),
        "nothing was run"
    );
    assert!(state(&project, 0)["test_runs"]
        .as_array()
        .is_none_or(|t| t.is_empty()));
}

// ---------------------------------------------------------------------------------------------
// 5. `hpsearch replicate`.

/// x=1 waits for PROJECT/release (at most 30 s), so the search stays running while the test
/// looks; loss = x.
const WAITING: &str = r#"#!/bin/sh
x=$(sed -n 's/.*"x": *\([0-9]*\).*/\1/p' "$1")
if [ "$x" = 1 ] && [ ! -e ../../released ]; then
  i=0; while [ ! -e ../../release ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
  touch ../../released
fi
echo "$x" > output.json
"#;

#[test]
fn replicate_adds_runs_of_the_best_settings_and_refuses_while_the_search_runs() {
    let project = Project::new();
    project.script("wait.sh", WAITING);
    project.configs(
        "/bin/sh",
        "wait.sh",
        json!({"x": {"type": "discrete", "domain": [1, 2, 3, 4]}}),
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 4,
               "max_active_points": 4, "y_transformation": "none"}),
    );
    project.hpsearch(&["launch", "."]).ok();
    wait_until(Duration::from_secs(20), "the search to start x=1", || {
        project
            .search_dir(0)
            .join("hp_combination_0/input.json")
            .exists()
    });
    let refused_with = |args: &[&str], code: i32, needles: &[&str]| {
        let out = project.hpsearch(args);
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
        for needle in needles {
            assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        }
    };
    refused_with(
        &["replicate", "hp_search_0", "--top", "2", "--runs", "2"],
        1,
        &["search 0 is still running", "hpsearch cancel"],
    );
    refused_with(
        &["test", "hp_search_0", "--combination", "0"],
        1,
        &["still running"],
    );
    // A bad argument is a usage error, also while the search runs (it used to say "still
    // running" then, and CI caught the race when the coordinator was slow to let go).
    refused_with(
        &["replicate", "hp_search_0", "--top", "0"],
        2,
        &["--top must be a whole number from 1 to 10000"],
    );
    // A mistyped count is refused before a row is made (it used to fill the store until the
    // disk or the memory ran out), with the same range as the config's `replicates`.
    refused_with(
        &["replicate", "hp_search_0", "--runs", "1000000000000"],
        2,
        &[
            "--runs must be a whole number from 1 to 1000",
            "replicates in search_config.json",
        ],
    );

    project.write("release", "");
    wait_until(Duration::from_secs(30), "the search to end", || {
        std::fs::read_to_string(project.search_dir(0).join("hp_search_state.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|s| s["state"] == "finished")
    });
    // The state says finished a moment before the coordinator lets go of its lock.
    let lock = project.search_dir(0).join("coordinator.lock");
    wait_until(Duration::from_secs(30), "the coordinator to exit", || {
        hpsearch::project::lock::live_holder(&lock).is_none()
    });
    assert_eq!(
        project.data_rows(0).len(),
        4,
        "nothing was added while it ran"
    );
    assert!(!project.search_dir(0).join("test_run_0").exists());

    let run = project
        .hpsearch(&["replicate", "hp_search_0", "--top", "2", "--runs", "2"])
        .ok();
    assert!(
        run.stdout
            .contains("replicating the 2 best settings of search 0 2 more time(s) each"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("hpsearch report"),
        "says what is next: {}",
        run.stdout
    );
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 8);
    let replicated: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["search_type"] == "replicate")
        .map(|r| (r["x"].as_str(), r["status"].as_str()))
        .collect();
    assert_eq!(
        replicated,
        [
            ("1", "succeeded"),
            ("1", "succeeded"),
            ("2", "succeeded"),
            ("2", "succeeded")
        ],
        "the two best settings (x=1, x=2), twice each"
    );
    let state = state(&project, 0);
    assert_eq!(state["state"], "finished");
    assert_eq!(
        state["end_reason"], "the replicate phase is done (4 replicate runs)",
        "{state:#}"
    );
    // What status shows counts the whole search, not only the replicate phase.
    assert_eq!(state["summary"]["succeeded"], 8, "{:#}", state["summary"]);
    assert_eq!(state["summary"]["created"], 8);
    let status = project.hpsearch(&["status", "hp_search_0"]).ok();
    assert!(status.stdout.contains("8 succeeded"), "{}", status.stdout);
    let of: Vec<Value> = state["combinations"].as_array().unwrap()[4..]
        .iter()
        .map(|c| c["replicate_of"].clone())
        .collect();
    let id = |x: &str| json!(id_of_x(&rows, x).parse::<u64>().unwrap());
    assert_eq!(of, [id("1"), id("1"), id("2"), id("2")]);
    // x=1 and x=2 each ran 3 times with the same loss: no noise at all, and x=2 is worse.
    let report = project.hpsearch(&["report", "hp_search_0"]).ok();
    let html = read(&project.search_dir(0).join("report/report.html"));
    assert!(
        html.contains("(4 degrees of freedom from 2 repeated settings)"),
        "{}",
        report.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// 6. `hpsearch test`.

#[test]
fn test_runs_the_setting_once_with_phase_test_and_records_it_apart() {
    let project = noisy_project(json!({
        "search_type": "grid", "num_grid_points_per_hyperparameter": 4, "max_active_points": 2,
        "y_transformation": "none"
    }));
    project.hpsearch(&["run", "."]).ok();
    let before = state(&project, 0);
    let data_before = read(&project.search_dir(0).join("hp_search_data.txt"));
    let best = id_of_x(&project.data_rows(0), "3");

    let run = project
        .hpsearch(&["test", "hp_search_0", "--combination", &best])
        .ok();
    assert!(
        run.stdout.contains(&format!(
            "test run 0 of combination {best}: objective 42 (loss 42)"
        )),
        "{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains("warning"),
        "first test: {}",
        run.stderr
    );
    let folder = project.search_dir(0).join("test_run_0");
    assert!(run
        .stdout
        .contains(&format!("folder: {}", folder.display())));
    let input: Value = serde_json::from_str(&read(&folder.join("input.json"))).unwrap();
    assert_eq!(
        input["phase"], "test",
        "the script is told it is the test phase"
    );
    assert_eq!(input["x"], 3);
    assert_eq!(input["save_folder"], folder.display().to_string());
    assert_eq!(read(&folder.join("output.json")).trim(), "42");

    let after = state(&project, 0);
    let tests = after["test_runs"].as_array().expect("test_runs");
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0]["combination_id"], best.parse::<u64>().unwrap());
    assert_eq!(tests[0]["objective"], 42.0);
    assert_eq!(tests[0]["state"], "succeeded");
    // The validation results are untouched: same combinations, same best.
    assert_eq!(after["combinations"], before["combinations"]);
    assert_eq!(
        after["summary"]["best_loss"],
        before["summary"]["best_loss"]
    );
    assert_eq!(after["summary"]["best_id"], before["summary"]["best_id"]);
    assert_eq!(
        read(&project.search_dir(0).join("hp_search_data.txt")),
        data_before,
        "the test run is not a row of the search's table"
    );

    let again = project
        .hpsearch(&["test", "hp_search_0", "--combination", &best])
        .ok();
    assert!(
        again.stderr.contains("tested 1 time(s) before"),
        "warns: {}",
        again.stderr
    );
    assert!(again.stdout.contains("test run 1 of combination"));
    assert_eq!(state(&project, 0)["test_runs"].as_array().unwrap().len(), 2);
    let html = report_html(&project);
    assert!(html.contains("Test phase") && html.contains("The test data was used 2 times"));

    let missing = project.hpsearch(&["test", "hp_search_0", "--combination", "999"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("combination 999 does not exist"),
        "{}",
        missing.stderr
    );
    assert_eq!(state(&project, 0)["test_runs"].as_array().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 7. Config and argument errors.

/// `hpsearch run` on a one-hyperparameter project with these configs: exit 2 and one line.
fn config_error(model: Value, search: Value) -> String {
    let project = Project::new();
    project.script("noisy.sh", NOISY);
    project.configs("/bin/sh", "noisy.sh", model, search);
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(run.code, 2, "stderr: {}", run.stderr);
    assert_eq!(
        run.stderr.trim().lines().count(),
        1,
        "one line: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        !project.search_dir(0).exists(),
        "no search for a bad config"
    );
    run.stderr
}

#[test]
fn bad_simpler_and_replicate_fields_are_one_line_errors_naming_file_and_field() {
    let x = |extra: Value| {
        let mut spec = json!({"type": "discrete", "domain": [1, 2, 3]});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "x": spec })
    };
    let grid = json!({"search_type": "grid"});

    let e = config_error(x(json!({"simpler": "sideways"})), grid.clone());
    assert!(
        e.contains("model_config.json") && e.contains("simpler"),
        "{e}"
    );
    assert!(
        e.contains("sideways") && e.contains("lower") && e.contains("higher"),
        "{e}"
    );
    // The categorical words are not for numbers, and the other way round.
    let e = config_error(x(json!({"simpler": "first"})), grid.clone());
    assert!(
        e.contains("model_config.json") && e.contains("simpler"),
        "{e}"
    );
    let e = config_error(
        json!({"act": {"type": "categorical", "domain": ["relu", "tanh"], "simpler": "lower"}}),
        grid.clone(),
    );
    assert!(
        e.contains("model_config.json") && e.contains("simpler"),
        "{e}"
    );
    assert!(e.contains("first") && e.contains("last"), "{e}");

    let e = config_error(
        x(json!({})),
        json!({"search_type": "grid", "replicates": -1}),
    );
    assert!(
        e.contains("search_config.json") && e.contains("replicates"),
        "{e}"
    );
    let e = config_error(
        x(json!({})),
        json!({"search_type": "grid", "replicates": 2, "replicate_top_k": 0}),
    );
    assert!(
        e.contains("search_config.json") && e.contains("replicate_top_k"),
        "{e}"
    );
}

#[test]
fn report_refuses_a_folder_that_is_not_a_search_and_a_bad_alpha() {
    let project = Project::new();
    let run = project.hpsearch(&["report", "."]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    ended_noisy(&project);
    let run = project.hpsearch(&["report", "hp_search_0", "--alpha", "1.5"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--alpha 1.5"), "{}", run.stderr);
    assert!(!project.search_dir(0).join("report").exists());
}

fn ended_noisy(project: &Project) {
    project.script("noisy.sh", NOISY);
    project.configs(
        "/bin/sh",
        "noisy.sh",
        json!({"x": {"type": "discrete", "domain": [1, 2, 3, 4]}}),
        json!({"search_type": "grid", "y_transformation": "none"}),
    );
    project.hpsearch(&["run", "."]).ok();
}

// ---------------------------------------------------------------------------------------------
// 8. What the recommendation and the importance can claim.

/// NOISY with x=1 nearly as good as the best (base 1.05 instead of 1.25).
fn close_noisy_project(search: Value) -> Project {
    let project = Project::new();
    project.script("noisy.sh", &NOISY.replace("1) base=1.25", "1) base=1.05"));
    project.configs(
        "/bin/sh",
        "noisy.sh",
        json!({"x": {"type": "discrete", "domain": [1, 2, 3, 4], "simpler": "lower"}}),
        search,
    );
    project
}

/// The grid scores x = 1..4 at 1.05, 1.10, 1.00, 1.02; the replicate phase reruns the two best
/// (x=3, x=4) twice, so they have losses {base, base + 0.1, base − 0.1}: pooled sd 0.1 with 4
/// degrees of freedom. x=1 and x=2 ran once. By hand, against the best x=3 (mean 1.00, 3 runs):
///   x=4 (3 runs): t = 0.02 / (0.1·√(2/3)) = 0.245, p = 0.41 → near-best
///   x=1 (1 run):  t = 0.05 / (0.1·√(4/3)) = 0.433, p = 0.34 → near-best, but ran once
///   x=2 (1 run):  t = 0.10 / 0.11547 = 0.866,       p = 0.22 → near-best, but ran once
/// x=1 is the simplest ("simpler": "lower") and was recommended on one lucky-looking run. Only
/// x=3 and x=4 ran enough to be judged; x=3 is the simpler of them. The power, with 4 df
/// (t(0.95) = 2.1318, t(0.80) = 0.9410, sum 3.0728): 3.0728 × 0.08165 = 0.251 for a setting
/// with 3 runs, 3.0728 × 0.11547 = 0.355 for one with 1 run.
#[test]
fn a_setting_that_ran_once_is_not_recommended_over_replicated_ones() {
    let project = close_noisy_project(json!({
        "search_type": "grid", "num_grid_points_per_hyperparameter": 4, "max_active_points": 1,
        "y_transformation": "none", "replicates": 2, "replicate_top_k": 2
    }));
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 4 + 2 * 2, "{rows:?}");
    let (x1, x3) = (id_of_x(&rows, "1"), id_of_x(&rows, "3"));
    let run = project.hpsearch(&["report", "hp_search_0"]).ok();
    assert!(
        run.stdout.contains(&format!(
            "recommended: combination {x3} (the best mean loss (3 runs), and also the simplest of the 2 near-best settings with at least 2 runs by x (complexity 0.667, 0 = the simpler end of every marked domain); 2 near-best settings that ran once are left out, as one run cannot show a setting is as good as the best)"
        )),
        "x=3, not the single run of x=1 ({x1}): {}",
        run.stdout
    );
    let html = read(&project.search_dir(0).join("report/report.html"));
    assert!(
        html.contains("the noise of the loss is sd 0.1 (4 degrees of freedom from 2 repeated settings); 4 of 4 settings are not significantly worse than the best, 2 of them with at least 2 runs"),
        "{html}"
    );
    assert!(
        html.contains("Power: with noise sd 0.1 and 3 runs of the best setting, a difference in mean loss smaller than ~0.25 for a setting with 3 runs, ~0.35 for a setting with 1 run would likely go undetected"),
        "the power of the test, by run count"
    );
    let settings = table(&html, "settings");
    let row_of = |id: &str| {
        settings
            .iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("no row {id}: {settings:?}"))
    };
    assert_eq!(row_of(&x1)[1], "1");
    assert_eq!(
        row_of(&x1)[5],
        "0.35",
        "detectable difference of a single run"
    );
    assert_eq!(row_of(&x1)[6], "yes, 1 run");
    assert!(html.contains(&format!("Combination <b>{x3}</b>: x=3")));

    let test = project.hpsearch(&["test", "hp_search_0"]).ok();
    assert!(
        test.stdout.contains(&format!(
            "testing the recommended setting, combination {x3}"
        )),
        "{}",
        test.stdout
    );
}

/// A line search of a log learning rate and a kernel, loss = log10 of an objective printed
/// with 17 digits: the learning rate runs over 5 values with the first kernel (rbf), and the
/// second kernel (laplacian) is tried once, at the middle learning rate.
const LINE: &str = r#"#!/bin/sh
lr=$(sed -n 's/.*"lr": *\([0-9.eE+-]*\).*/\1/p' "$1")
kernel=$(sed -n 's/.*"kernel": *"\([a-z]*\)".*/\1/p' "$1")
awk -v lr="$lr" -v k="$kernel" 'BEGIN{l = log(lr)/log(10) + 2; printf "%.17g\n", exp(l*l/7 + 1) + (k == "laplacian" ? 0.5 : 0) + 1/3}' > output.json
"#;

fn line_search(project: &Project) {
    project.script("line.sh", LINE);
    project.configs(
        "/bin/sh",
        "line.sh",
        json!({
            "lr": {"type": "continuous", "domain": [1e-4, 1], "transformation": "log"},
            "kernel": {"type": "categorical", "domain": ["rbf", "laplacian"]}
        }),
        json!({"search_type": "line", "num_grid_points_per_hyperparameter": 5,
               "max_active_points": 2, "y_transformation": "log"}),
    );
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 6, "base, 4 more learning rates, 1 more kernel");
    assert_eq!(
        rows.iter().filter(|r| r["kernel"] == "laplacian").count(),
        1,
        "{rows:?}"
    );
}

#[test]
fn a_category_tried_once_is_not_given_an_importance_or_a_main_effect() {
    let project = Project::new();
    line_search(&project);
    let html = report_html(&project);
    let importance = figure(&html, "importance");
    let texts = svg_texts(importance);
    assert!(
        texts.contains(&"not estimable (laplacian: 1 run)".to_string()),
        "kernel's bar says why it has none: {texts:?}"
    );
    // Percentages beside the bars (the axis has its own, 0% to 100%): lr and interactions only.
    let shares = texts.iter().filter(|t| t.ends_with('%')).count() - x_ticks(importance).len();
    assert_eq!(shares, 2, "no share for kernel: {texts:?}");
    assert!(
        html.contains("kernel: importance not estimable, not 0%: laplacian (1 successful run)"),
        "the report explains it"
    );
    let effect = figure(&html, "effect_1_kernel");
    assert_eq!(x_ticks(effect), ["rbf", "laplacian"]);
    assert!(
        svg_texts(effect).contains(&"1 run: not estimated".to_string()),
        "{:?}",
        svg_texts(effect)
    );
    // Nothing is recommended from single runs, and the page says so.
    assert!(html.contains("Nothing is recommended"));
}

// ---------------------------------------------------------------------------------------------
// 9. Figures: ticks where matplotlib would put them.

/// A `<text>` element of an SVG: where it is drawn and what it says.
#[derive(Debug)]
struct SvgText {
    x: f64,
    y: f64,
    anchor: String,
    dy: String,
    rotated: bool,
    text: String,
}

fn svg_text_elements(svg: &str) -> Vec<SvgText> {
    svg.split("<text")
        .skip(1)
        .map(|rest| {
            let tag = &rest[..rest.find('>').expect("tag closed")];
            let attribute = |name: &str| -> String {
                tag.split(&format!(" {name}=\""))
                    .nth(1)
                    .map(|v| v[..v.find('"').expect("attribute closed")].to_string())
                    .unwrap_or_default()
            };
            let body = &rest[rest.find('>').expect("tag closed") + 1..];
            SvgText {
                x: attribute("x").parse().unwrap_or(f64::NAN),
                y: attribute("y").parse().unwrap_or(f64::NAN),
                anchor: attribute("text-anchor"),
                dy: attribute("dy"),
                rotated: tag.contains("transform="),
                text: html_unescape(body[..body.find("</text>").expect("text closed")].trim()),
            }
        })
        .filter(|t| !t.text.is_empty())
        .collect()
}

/// The tick labels under the x axis, left to right.
fn x_ticks(svg: &str) -> Vec<String> {
    let mut ticks: Vec<SvgText> = svg_text_elements(svg)
        .into_iter()
        .filter(|t| t.anchor == "middle" && t.dy == "0.76em" && !t.rotated && t.y > 230.0)
        .collect();
    ticks.sort_by(|a, b| a.x.total_cmp(&b.x));
    ticks.into_iter().map(|t| t.text).collect()
}

/// The tick labels left of the y axis, bottom to top.
fn y_ticks(svg: &str) -> Vec<String> {
    let mut ticks: Vec<SvgText> = svg_text_elements(svg)
        .into_iter()
        .filter(|t| t.anchor == "end" && !t.rotated)
        .collect();
    ticks.sort_by(|a, b| b.y.total_cmp(&a.y));
    ticks.into_iter().map(|t| t.text).collect()
}

/// The vertices of every `<polyline>` of an SVG.
fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.split("<polyline")
        .skip(1)
        .map(|rest| {
            let tag = &rest[..rest.find('>').expect("tag closed")];
            let points = tag
                .split(" points=\"")
                .nth(1)
                .map(|v| &v[..v.find('"').expect("attribute closed")])
                .unwrap_or("");
            points
                .split_whitespace()
                .filter_map(|p| {
                    let (x, y) = p.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect()
        })
        .collect()
}

/// Labels of a linear axis: numbers in equal steps of 1, 2 or 5 × 10^k, written with one
/// number of decimals.
fn assert_round_linear_ticks(labels: &[String], what: &str) {
    assert!(labels.len() >= 3, "{what}: {labels:?}");
    let values: Vec<f64> = labels
        .iter()
        .map(|l| {
            l.parse()
                .unwrap_or_else(|_| panic!("{what}: {l:?} is a number"))
        })
        .collect();
    let step = values[1] - values[0];
    for pair in values.windows(2) {
        assert!(
            ((pair[1] - pair[0]) - step).abs() < step * 1e-6,
            "{what}: equal steps {labels:?}"
        );
    }
    let mantissa = step / 10f64.powf(step.log10().floor());
    assert!(
        [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6),
        "{what}: a 1-2-5 step, not {step}: {labels:?}"
    );
    let decimals = |l: &String| l.split_once('.').map_or(0, |(_, d)| d.len());
    assert!(
        labels.iter().all(|l| decimals(l) == decimals(&labels[0])),
        "{what}: one format for the axis: {labels:?}"
    );
}

#[test]
fn figures_have_round_ticks_decades_whole_ids_and_every_category_at_its_place() {
    let project = Project::new();
    ended_training_search(&project);
    let html = report_html(&project);

    // Combination ids and counts are whole numbers.
    let history = figure(&html, "history");
    assert_eq!(
        x_ticks(history),
        ["0", "1", "2", "3", "4", "5", "6", "7", "8"]
    );
    assert_round_linear_ticks(&y_ticks(history), "history's losses");
    assert_eq!(
        x_ticks(figure(&html, "run_time")),
        x_ticks(history),
        "run time"
    );
    assert_round_linear_ticks(&y_ticks(figure(&html, "run_time")), "run time's minutes");
    let counts = y_ticks(figure(&html, "failures"));
    assert!(
        !counts.is_empty() && counts.iter().all(|c| c.parse::<u64>().is_ok()),
        "failure counts: {counts:?}"
    );
    assert_eq!(
        x_ticks(figure(&html, "failures")),
        ["non_zero_exit", "missing_output"]
    );

    // A log axis has decades, all in one format.
    for stem in ["param_0_lr", "effect_0_lr"] {
        assert_eq!(
            x_ticks(figure(&html, stem)),
            ["0.0001", "0.001", "0.01", "0.1"],
            "{stem}"
        );
    }
    // Every category is labelled at its own position.
    for stem in ["param_1_optimizer", "effect_1_optimizer"] {
        assert_eq!(
            x_ticks(figure(&html, stem)),
            ["sgd", "adam", "broken"],
            "{stem}"
        );
    }
    assert_eq!(
        x_ticks(figure(&html, "importance")),
        ["0%", "20%", "40%", "60%", "80%", "100%"]
    );

    // Light grid lines at the ticks only: no minor mesh. (Long straight lines: the grid and
    // the two axes.)
    let straight: usize = polylines(history)
        .iter()
        .filter(|l| {
            l.len() == 2
                && ((l[0].0 == l[1].0 && (l[0].1 - l[1].1).abs() > 200.0)
                    || (l[0].1 == l[1].1 && (l[0].0 - l[1].0).abs() > 400.0))
        })
        .count();
    assert!(
        straight <= x_ticks(history).len() + y_ticks(history).len() + 2,
        "{straight} grid lines for {} ticks",
        x_ticks(history).len() + y_ticks(history).len()
    );

    // Parallel coordinates: an axis per hyperparameter (and the loss), each labelled along
    // its length; every line passes through the label of its category.
    let parallel = figure(&html, "parallel_coordinates");
    assert_eq!(x_ticks(parallel), ["loss", "lr", "optimizer"]);
    let texts = svg_text_elements(parallel);
    let axis_x = texts
        .iter()
        .find(|t| t.text == "optimizer")
        .expect("optimizer axis")
        .x;
    let on_axis = |t: &&SvgText| t.anchor == "start" && (t.x - axis_x).abs() < 12.0;
    let categories: Vec<(&str, f64)> = texts
        .iter()
        .filter(on_axis)
        .map(|t| (t.text.as_str(), t.y))
        .collect();
    let names: Vec<&str> = categories.iter().map(|c| c.0).collect();
    assert_eq!(
        names
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        ["adam", "broken", "sgd"].into_iter().collect(),
        "every category labelled: {categories:?}"
    );
    let lines: Vec<Vec<(f64, f64)>> = polylines(parallel)
        .into_iter()
        .filter(|l| l.len() == 3)
        .collect();
    assert_eq!(lines.len(), 5, "the 5 successful runs");
    for line in &lines {
        let (x, y) = line[2];
        assert!(
            (x - axis_x).abs() < 2.0,
            "{line:?} ends on the optimizer axis"
        );
        assert!(
            categories
                .iter()
                .any(|(name, label_y)| *name != "broken" && (label_y - y).abs() <= 1.5),
            "the line {line:?} passes through a category's label: {categories:?}"
        );
    }
    let lr_labels: Vec<&str> = {
        let lr_x = texts.iter().find(|t| t.text == "lr").expect("lr axis").x;
        texts
            .iter()
            .filter(|t| t.anchor == "start" && (t.x - lr_x).abs() < 12.0)
            .map(|t| t.text.as_str())
            .collect()
    };
    assert_eq!(
        lr_labels
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        ["0.0001", "0.001", "0.01", "0.1"].into_iter().collect(),
        "{lr_labels:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Numbers for people: 4 significant digits; machines get them all.

/// Significant digits of a number as written: `0.0001293` has 4, `3.372` has 4, `1e-5` has 1.
fn significant_digits(text: &str) -> usize {
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_start_matches('0');
    if mantissa.contains('.') {
        digits.len()
    } else {
        digits.trim_end_matches('0').len().max(1)
    }
}

#[test]
fn numbers_for_people_have_four_significant_digits_and_csv_keeps_them_all() {
    let project = Project::new();
    line_search(&project);
    let html = report_html(&project);
    let history = figure(&html, "history");
    assert!(
        svg_texts(history).contains(&"loss = log10(objective)".to_string()),
        "the axis says log10: {:?}",
        svg_texts(history)
    );
    assert_eq!(
        x_ticks(figure(&html, "param_0_lr")),
        ["0.0001", "0.001", "0.01", "0.1", "1"]
    );
    // id, state, loss, objective, lr, kernel, minutes, ...
    let runs = table(&html, "run-table");
    assert_eq!(runs.len(), 6);
    for row in &runs {
        for (column, cell) in [("loss", &row[2]), ("objective", &row[3]), ("lr", &row[4])] {
            assert!(
                significant_digits(cell) <= 4,
                "{column} {cell:?} in the run table"
            );
        }
    }
    assert!(
        runs.iter().any(|r| significant_digits(&r[2]) == 4),
        "losses are not rounded further than 4 digits: {runs:?}"
    );

    let status = project.hpsearch(&["status", "hp_search_0"]).ok().stdout;
    let best = status
        .lines()
        .find_map(|l| l.trim().strip_prefix("best: loss "))
        .unwrap_or_else(|| panic!("{status}"));
    let loss = best.split_whitespace().next().unwrap();
    assert!(
        significant_digits(loss) <= 4 && significant_digits(loss) >= 3,
        "{status}"
    );
    assert!(
        best.contains("lr=0.01, kernel=rbf") || best.contains("kernel=rbf"),
        "{status}"
    );

    let table = project.hpsearch(&["results", "hp_search_0"]).ok().stdout;
    let lines: Vec<&str> = table.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    let loss_column = header.iter().position(|h| *h == "loss").unwrap();
    for line in &lines[1..] {
        let cell = line.split_whitespace().nth(loss_column).unwrap();
        assert!(significant_digits(cell) <= 4, "{cell} in {table}");
    }
    // The columns line up: every row is as long as the header up to the loss column's end.
    let loss_end = lines[0].find("loss").unwrap() + 4;
    for line in &lines[1..] {
        assert!(
            line.len() >= loss_end && line.as_bytes()[loss_end - 1] != b' ',
            "the loss column ends under its header in {table}"
        );
    }
    let csv = project
        .hpsearch(&["results", "hp_search_0", "--format", "csv"])
        .ok()
        .stdout;
    let csv_loss = csv.lines().nth(1).unwrap().split(',').nth(3).unwrap();
    assert!(
        significant_digits(csv_loss) >= 15,
        "csv keeps every digit: {csv_loss}"
    );

    // The project's status table: the best-loss column lines up under its header.
    let list = project.hpsearch(&["status", "."]).ok().stdout;
    let lines: Vec<&str> = list.lines().collect();
    let end = lines[0].find("best loss").unwrap() + "best loss".len();
    assert!(
        lines[1].len() > end
            && lines[1].as_bytes()[end - 1] != b' '
            && lines[1].as_bytes()[end] == b' ',
        "the best loss ends under its header:\n{list}"
    );
    let value = lines[1][..end].split_whitespace().last().unwrap();
    assert!(significant_digits(value) <= 4, "{list}");
}
