//! The live dashboard, driven in a real headless Chromium against a search running in the
//! background, and its JSON API and token rules.

mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
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

impl Dashboard {
    fn port(&self) -> u16 {
        self.url
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {}", self.url))
    }

    /// GET `path` on 127.0.0.1 with the given `Host` header, over a bare socket (HTTP clients
    /// set the Host header themselves); the status and the body.
    fn get_with_host(&self, host: &str, path: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port())).expect("connect");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        let code = answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status in {answer:?}"));
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
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
#[ignore = "needs Chromium and chromedriver: apt-get install chromium chromium-driver"]
fn the_page_shows_a_new_run_within_its_refresh_interval() {
    browser::require();
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
    // Five settings that ran once each: none can be recommended (one run cannot show a setting
    // is as good as the best), and the analysis says why.
    assert!(analysis["recommendation"].is_null(), "{analysis}");
    assert!(analysis["replicates"]["groups"][0]["params"]["x"].is_number());
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

#[test]
fn a_search_whose_coordinator_was_killed_shows_as_died_as_status_says() {
    let project = Project::new();
    slow_search(&project, 3, "30");
    project.hpsearch(&["launch", "--local"]).ok();
    let published_running = || {
        std::fs::read_to_string(project.search_dir(0).join("hp_search_state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| v["state"] == "running" && v["summary"]["running"] == 1)
    };
    wait_until(
        Duration::from_secs(30),
        "a run in flight",
        published_running,
    );
    let dashboard = Dashboard::start(&project, &[]);
    let listed = || -> Value {
        let (code, body) = get(&format!("{}api/searches", dashboard.url));
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<Value>(&body).expect("json")[0].clone()
    };
    assert_eq!(listed()["state"], "running");

    let lock =
        std::fs::read_to_string(project.search_dir(0).join("coordinator.lock")).expect("lock file");
    let pid = serde_json::from_str::<Value>(&lock).expect("holder")["pid"]
        .as_i64()
        .expect("pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the coordinator");
    let status = || project.hpsearch(&["status", "hp_search_0"]).ok().stdout;
    wait_until(Duration::from_secs(10), "status to call it dead", || {
        status().contains("died")
    });
    assert!(published_running(), "the snapshot still says running");

    let search = listed();
    assert_eq!(search["state"], "died", "{search}");
    assert!(
        search["state_detail"]
            .as_str()
            .is_some_and(|d| d.contains("hpsearch resume")),
        "{search}"
    );
    let (code, body) = get(&format!("{}api/searches/0", dashboard.url));
    assert_eq!(code, 200);
    let analysis: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(analysis["state"], "died");
    let (_, fragment) = get(&format!("{}api/searches/0/fragment", dashboard.url));
    assert!(
        fragment.contains("<b id=\"search-state\">died</b>"),
        "{fragment:.600}"
    );
    let (_, index) = get(&format!("{}api/index_fragment", dashboard.url));
    assert!(index.contains(">died</td>"), "{index}");
    assert!(!index.contains(">running</td>"), "{index}");
    assert!(status().contains("died"), "status and the dashboard agree");
}

#[test]
fn a_token_with_reserved_characters_matches_when_percent_encoded() {
    let project = Project::new();
    slow_search(&project, 1, "0");
    project.hpsearch(&["run"]).ok();
    let token = "a+b/c %d&e";
    let dashboard = Dashboard::start(&project, &["--token", token]);
    let api = format!("{}api/searches", dashboard.url);
    // As a URL's query (RFC 3986) and as a form (space as `+`), as HTTP libraries send it.
    assert_eq!(get(&format!("{api}?token=a%2Bb%2Fc%20%25d%26e")).0, 200);
    assert_eq!(get(&format!("{api}?token=a%2Bb%2Fc+%25d%26e")).0, 200);
    assert_eq!(get(&format!("{api}?x=1&token=a%2bb/c%20%25d%26e")).0, 200);
    // Not encoded, `&` ends the value and `%d&` is no escape: refused.
    assert_eq!(get(&format!("{api}?token=a+b/c%20%d&e")).0, 401);
    assert_eq!(get(&format!("{api}?token=a%2Bb%2Fc%20%25d")).0, 401);
    assert_eq!(get(&format!("{api}?token=a%2Bb%2Fc%20%25d%26f")).0, 401);
    assert_eq!(get(&api).0, 401);
}

#[test]
fn a_loopback_dashboard_refuses_requests_for_other_host_names() {
    let project = Project::new();
    slow_search(&project, 1, "0");
    project.hpsearch(&["run"]).ok();
    let dashboard = Dashboard::start(&project, &[]);
    let port = dashboard.port();
    let (code, body) = dashboard.get_with_host(&format!("evil.example:{port}"), "/api/searches");
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("evil.example") && body.contains("--bind"),
        "the refusal names the host and the way in: {body}"
    );
    assert_eq!(dashboard.get_with_host("evil.example", "/").0, 403);
    assert_eq!(
        dashboard.get_with_host("localhost.evil.example", "/").0,
        403
    );
    let hostname = nix::unistd::gethostname()
        .expect("hostname")
        .into_string()
        .expect("text");
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        format!("{hostname}:{port}"),
        // An SSH tunnel forwards another port.
        "localhost:9999".to_string(),
    ] {
        let (code, body) = dashboard.get_with_host(&host, "/api/searches");
        assert_eq!(code, 200, "Host: {host}: {body}");
    }

    // Bound to all addresses, the token guards it and any name reaches it.
    let open = Dashboard::start(&project, &["--bind", "0.0.0.0", "--token", "s3cret"]);
    assert_eq!(
        open.get_with_host("node7.cluster.example", "/api/searches?token=s3cret")
            .0,
        200
    );
    assert_eq!(open.get_with_host("evil.example", "/api/searches").0, 401);
}
