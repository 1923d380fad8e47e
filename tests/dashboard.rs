//! The live dashboard, driven in a real headless Chromium against a search running in the
//! background, and its JSON API and token rules.

mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::browser::{self, Browser};
use support::{hpsearch_bin, wait_until, Project};

/// A running `hpsearch dashboard`, stopped when dropped.
struct Dashboard {
    child: Child,
    url: String,
}

impl Dashboard {
    fn start(project: &Project, extra: &[&str]) -> Dashboard {
        let mut child = Command::new(hpsearch_bin())
            .arg("dashboard")
            .arg(&project.path)
            .args(["--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the dashboard");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the dashboard's first line");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Dashboard { child, url }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(url: &str) -> (u16, String) {
    match ureq::get(url).call() {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(ureq::Error::StatusCode(code)) => (code, String::new()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

fn slow_search(project: &Project, runs: u64, sleep: &str) {
    project.script(
        "slow.sh",
        &format!(
            "#!/bin/sh\nsleep {sleep}\nx=$(sed -n 's/.*\"x\": *\\([0-9.e+-]*\\).*/\\1/p' \"$1\")\nfolder=$(sed -n 's/.*\"save_folder\": *\"\\(.*\\)\".*/\\1/p' \"$1\")\necho \"{{\\\"objective\\\": $x}}\" > \"$folder/output.json\"\n"
        ),
    );
    project.configs(
        "/bin/sh",
        "slow.sh",
        json!({"x": {"type": "continuous", "domain": [0.1, 1.0], "unit": "m"}}),
        json!({"search_type": "random", "max_suggestions": runs, "max_active_points": 1,
               "y_transformation": "none", "random_seed": 3}),
    );
}

fn succeeded_in_snapshot(project: &Project) -> u64 {
    std::fs::read_to_string(project.search_dir(0).join("hp_search_state.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["summary"]["succeeded"].as_u64())
        .unwrap_or(0)
}

#[test]
fn the_page_shows_a_new_run_within_its_refresh_interval() {
    if !browser::available() {
        return;
    }
    let project = Project::new();
    slow_search(&project, 12, "0.7");
    project.hpsearch(&["launch", "--local"]).ok();
    wait_until(Duration::from_secs(30), "the first result", || {
        succeeded_in_snapshot(&project) >= 1
    });
    let refresh = 1.0;
    let dashboard = Dashboard::start(&project, &["--refresh", "1"]);
    let browser = Browser::start();
    browser.open(&format!("{}search/0", dashboard.url));
    // A marker that a reload would erase: the page must update in place.
    browser.eval("window.__hpsearchMarker = 42; return 1;");
    let shown = |b: &Browser| -> u64 {
        b.eval("return document.getElementById('count-succeeded').textContent;")
            .as_str()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    };
    let rows = |b: &Browser| -> u64 {
        b.eval("return document.querySelectorAll('#run-table tr[data-id]').length;")
            .as_u64()
            .unwrap_or(0)
    };
    let first = shown(&browser);
    let first_rows = rows(&browser);
    assert!(first >= 1, "the page shows the finished run");
    // When the snapshot gains a result, the page must show it within the refresh interval
    // (plus the time to render and a margin for a loaded machine).
    wait_until(
        Duration::from_secs(30),
        "a new result in the snapshot",
        || succeeded_in_snapshot(&project) > first,
    );
    let seen_at = Instant::now();
    let target = succeeded_in_snapshot(&project);
    wait_until(
        Duration::from_secs_f64(refresh + 3.0),
        "the page to show the new result",
        || shown(&browser) >= target,
    );
    eprintln!(
        "the page showed result {target} {:.2} s after the snapshot had it (refresh {refresh} s)",
        seen_at.elapsed().as_secs_f64()
    );
    assert!(rows(&browser) > first_rows, "the run table grew");
    assert_eq!(
        browser.eval("return window.__hpsearchMarker;"),
        json!(42),
        "the page updated in place, without a reload"
    );
    let figures = browser
        .eval("return document.querySelectorAll('figure.figure svg').length;")
        .as_u64()
        .unwrap_or(0);
    assert!(
        figures >= 3,
        "history, x vs loss and run time are drawn: {figures}"
    );
    let label = browser.eval("return document.getElementById('fig-param_0_x').textContent;");
    assert!(
        label.as_str().unwrap_or_default().contains("x [m]"),
        "the axis names the hyperparameter and its unit: {label}"
    );
    // The project page lists the search and links to it.
    browser.open(&dashboard.url);
    let listed = browser.eval(
        "return document.querySelector('#searches tr[data-id=\"0\"] a').getAttribute('href');",
    );
    assert_eq!(listed, json!("/search/0"));
    assert_eq!(browser.console_errors(), Vec::<String>::new());
    project
        .hpsearch(&["cancel", project.search_dir(0).to_str().unwrap()])
        .ok();
}

#[test]
fn the_api_serves_the_searches_and_their_analysis() {
    let project = Project::new();
    slow_search(&project, 5, "0");
    project.hpsearch(&["run"]).ok();
    let dashboard = Dashboard::start(&project, &[]);
    let (code, body) = get(&format!("{}api/searches", dashboard.url));
    assert_eq!(code, 200);
    let list: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(list[0]["search_id"], 0);
    assert_eq!(list[0]["succeeded"], 5);
    assert_eq!(list[0]["state"], "finished");
    let (code, body) = get(&format!("{}api/searches/0", dashboard.url));
    assert_eq!(code, 200);
    let analysis: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(analysis["runs"].as_array().map(Vec::len), Some(5));
    assert_eq!(analysis["hyperparameters"][0]["unit"], "m");
    assert!(analysis["recommendation"]["input_json"]["x"].is_number());
    let (code, svg) = get(&format!(
        "{}api/searches/0/figures/history.svg",
        dashboard.url
    ));
    assert_eq!(code, 200);
    assert!(svg.contains("<svg"), "{svg:.200}");
    let (code, _) = get(&format!("{}api/searches/9", dashboard.url));
    assert_eq!(code, 404);
}

#[test]
fn a_non_loopback_address_needs_a_token_and_then_every_request_carries_it() {
    let project = Project::new();
    slow_search(&project, 2, "0");
    project.hpsearch(&["run"]).ok();
    let refused = project.hpsearch(&["dashboard", ".", "--bind", "0.0.0.0", "--port", "0"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("without a token") && refused.stderr.contains("--token"),
        "{}",
        refused.stderr
    );
    let dashboard = Dashboard::start(&project, &["--bind", "0.0.0.0", "--token", "s3cret"]);
    let port = dashboard
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/');
    let local = format!("http://127.0.0.1:{port}/");
    assert_eq!(get(&format!("{local}api/searches")).0, 401);
    assert_eq!(get(&format!("{local}api/searches?token=wrong")).0, 401);
    assert_eq!(get(&format!("{local}api/searches?token=s3cret")).0, 200);
    assert_eq!(get(&format!("{local}search/0?token=s3cret")).0, 200);
    let bearer = ureq::get(format!("{local}api/searches"))
        .header("Authorization", "Bearer s3cret")
        .call()
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(bearer, 200);
}

#[test]
fn a_folder_without_searches_is_refused() {
    let project = Project::new();
    let run = project.hpsearch(&["dashboard", ".", "--port", "0"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a project folder with searches"),
        "{}",
        run.stderr
    );
}
