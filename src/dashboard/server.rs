//! `hpsearch dashboard`: a read-only web page of a project's searches and a JSON API under it.
//!
//! It reads only the snapshots the coordinators publish (never a database), so it can watch
//! running searches from any host. A search's state is the one `status` prints: the published
//! state corrected by whether its coordinator still holds its lock
//! ([`crate::project::lock::search_state`]), so a coordinator killed with -9 shows as `died`.
//! Pages refresh their content from the API every few seconds.
//!
//! Who may ask:
//! - It binds 127.0.0.1 unless told otherwise, and refuses a non-loopback address without a
//!   token; with a token every request must carry it (`?token=` or `Authorization: Bearer`). The
//!   query's value is percent-decoded (a `+` is read both as itself and as a space, so a token
//!   pasted as is and one encoded by an HTTP library both match).
//! - On a loopback address it answers only requests whose `Host` names this machine as a browser
//!   would for it: `localhost`, a loopback address (`127.0.0.1`, `[::1]`), or the machine's
//!   host name, with any port (an SSH tunnel may forward another port). Anything else is refused
//!   with 403: a page on another site whose name was rebound to 127.0.0.1 (DNS rebinding) would
//!   otherwise read the dashboard through the user's browser. A reverse proxy in front of it must
//!   send one of these names as `Host`.
//! - On a non-loopback address (which needs a token) any `Host` is accepted: the token already
//!   refuses a rebound page, which cannot know it, while the names a cluster node is reached by
//!   (its full name, aliases, a proxy's) cannot be listed here.
//!
//! Routes: `/` (the searches), `/search/{id}` (one search: live table and the report's figures),
//! `/api/searches` (JSON list), `/api/searches/{id}` (the report's analysis as JSON),
//! `/api/searches/{id}/fragment` (the page's content, HTML), `/api/searches/{id}/figures/{stem}.svg`.

use crate::export::Snapshot;
use crate::project::lock::{hostname, search_state};
use crate::project::paths::existing_ids;
use crate::project::SearchPaths;
use crate::report::analysis::{analyse, Analysis, DEFAULT_ALPHA};
use crate::report::figures::Figure;
use crate::report::html::{body, escape, Links, STYLE};
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct DashboardOptions {
    pub project: PathBuf,
    pub bind: IpAddr,
    pub port: u16,
    pub token: Option<String>,
    pub refresh_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("refusing to serve the dashboard on {0}, which other machines can reach, without a token; add --token SECRET (or set HPSEARCH_DASHBOARD_TOKEN), or bind 127.0.0.1 and use an SSH tunnel")]
    NeedsToken(IpAddr),
    #[error("--refresh {0}: the refresh interval must be between 0.2 and 3600 seconds")]
    BadRefresh(f64),
    #[error("{0}: not a project folder with searches (no hp_search_N folder); start one with `hpsearch run` or `hpsearch launch`")]
    NoSearches(String),
    #[error("cannot serve on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the dashboard's server failed: {0}")]
    Serve(std::io::Error),
}

impl DashboardOptions {
    pub fn check(&self) -> Result<(), DashboardError> {
        if !self.bind.is_loopback() && self.token.as_deref().is_none_or(str::is_empty) {
            return Err(DashboardError::NeedsToken(self.bind));
        }
        if !(0.2..=3600.0).contains(&self.refresh_seconds) {
            return Err(DashboardError::BadRefresh(self.refresh_seconds));
        }
        Ok(())
    }
}

/// The analysis of a search, kept while its snapshot and its live state are unchanged.
struct Cached {
    updated_at: f64,
    state: String,
    analysis: Arc<Analysis>,
    fragment: Arc<String>,
}

struct AppState {
    options: DashboardOptions,
    /// The address listened on (its port is named in the Host refusal).
    local: SocketAddr,
    cache: Mutex<HashMap<u64, Cached>>,
}

type Shared = Arc<AppState>;

/// Serves until the process is stopped; prints the address once listening. `on_listening`
/// gets the bound address (port 0 picks a free port).
pub fn serve(
    options: DashboardOptions,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), DashboardError> {
    options.check()?;
    if existing_ids(&options.project).is_empty() {
        return Err(DashboardError::NoSearches(
            options.project.display().to_string(),
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DashboardError::Serve)?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(options.bind, options.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DashboardError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| DashboardError::Bind { addr, source })?;
        let state: Shared = Arc::new(AppState {
            options,
            local,
            cache: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/", get(index_page))
            .route("/search/{id}", get(search_page))
            .route("/api/searches", get(api_searches))
            .route("/api/index_fragment", get(index_fragment))
            .route("/api/searches/{id}", get(api_search))
            .route("/api/searches/{id}/fragment", get(search_fragment))
            .route("/api/searches/{id}/figures/{file}", get(figure_svg))
            .layer(middleware::from_fn_with_state(state.clone(), require_token))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                require_local_host,
            ))
            .with_state(state);
        on_listening(local);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(DashboardError::Serve)
    })
}

async fn require_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.options.token.as_deref().filter(|t| !t.is_empty()) else {
        return next.run(request).await;
    };
    let from_query = request.uri().query().and_then(query_token);
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| vec![v.as_bytes().to_vec()]);
    let given = from_query.or(from_header).unwrap_or_default();
    if given
        .iter()
        .any(|candidate| same_secret(candidate, expected.as_bytes()))
    {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "this dashboard needs its token: add ?token=SECRET to the address\n",
        )
            .into_response()
    }
}

/// The readings of the query's first `token` value: percent-decoded as a URL's query (RFC 3986:
/// `+` is itself), and as a form (`+` is a space, as HTML forms and most HTTP libraries encode
/// it). `None` when the query has no `token`.
fn query_token(query: &str) -> Option<Vec<Vec<u8>>> {
    let form = |text: &str| -> Vec<u8> { percent_decode_str(&text.replace('+', " ")).collect() };
    let value = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| form(key) == b"token")
        .map(|(_, value)| value)?;
    Some(vec![percent_decode_str(value).collect(), form(value)])
}

/// Refuses a request addressed to another name than this machine's when serving on a loopback
/// address (DNS rebinding; see the module doc).
async fn require_local_host(
    State(state): State<Shared>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if !state.options.bind.is_loopback() {
        return next.run(request).await;
    }
    let host = match headers.get(header::HOST) {
        Some(value) => value.to_str().ok().map(str::to_string),
        // HTTP/2 names the host in the URI; a client that names none is no browser.
        None => match request.uri().authority() {
            Some(authority) => Some(authority.as_str().to_string()),
            None => return next.run(request).await,
        },
    };
    if host.as_deref().is_some_and(local_host) {
        return next.run(request).await;
    }
    let shown = host.unwrap_or_else(|| "(not text)".into());
    let port = state.local.port();
    (
        StatusCode::FORBIDDEN,
        [(header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
        format!(
            "refused the Host header {shown:?}: this dashboard listens on {} and answers only requests addressed to localhost, 127.0.0.1, [::1] or {} (a guard against DNS rebinding). Open http://127.0.0.1:{port}/ instead; behind a reverse proxy, have the proxy send `Host: localhost:{port}`, or serve the dashboard with --bind ADDR --token SECRET, which accepts any host name.\n",
            state.local.ip(),
            hostname()
        ),
    )
        .into_response()
}

/// Whether a `Host` header names this machine: `localhost`, a loopback address or the host name,
/// with or without a port.
fn local_host(host: &str) -> bool {
    let name = host_without_port(host);
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.to_canonical().is_loopback(),
        Err(_) => {
            let name = name.strip_suffix('.').unwrap_or(name);
            name.eq_ignore_ascii_case("localhost") || name.eq_ignore_ascii_case(&hostname())
        }
    }
}

/// The host of a `Host` header: without its port, and an IPv6 address without its brackets.
fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.starts_with(':') => ip,
            _ => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn load_snapshot(project: &std::path::Path, id: u64) -> Option<Snapshot> {
    let paths = SearchPaths::new(project, id);
    let text = std::fs::read_to_string(paths.snapshot()).ok()?;
    serde_json::from_str(&text).ok()
}

/// An answer other than 200, with a message for the user.
type Refusal = (StatusCode, String);

fn not_found(what: String) -> Refusal {
    (StatusCode::NOT_FOUND, what)
}

/// The analysis and the rendered content of a search, from the cache while its snapshot is
/// unchanged.
fn analysed(state: &AppState, id: u64) -> Result<(Arc<Analysis>, Arc<String>), Refusal> {
    let mut snapshot = load_snapshot(&state.options.project, id).ok_or_else(|| {
        not_found(format!(
            "search {id} has no published state in {}",
            state.options.project.display()
        ))
    })?;
    // The state `status` prints: a snapshot left `running` by a killed coordinator says `died`.
    let paths = SearchPaths::new(&state.options.project, id);
    snapshot.state = search_state(&paths.lock(), &snapshot.state)
        .word()
        .to_string();
    if let Ok(cache) = state.cache.lock() {
        if let Some(c) = cache
            .get(&id)
            .filter(|c| c.updated_at == snapshot.updated_at && c.state == snapshot.state)
        {
            return Ok((c.analysis.clone(), c.fragment.clone()));
        }
    }
    let analysis = analyse(&snapshot, DEFAULT_ALPHA)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let fragment = body(
        &analysis,
        &Links {
            search_folder: None,
            figures: None,
        },
    );
    let (analysis, fragment) = (Arc::new(analysis), Arc::new(fragment));
    if let Ok(mut cache) = state.cache.lock() {
        cache.insert(
            id,
            Cached {
                updated_at: snapshot.updated_at,
                state: snapshot.state.clone(),
                analysis: analysis.clone(),
                fragment: fragment.clone(),
            },
        );
    }
    Ok((analysis, fragment))
}

#[derive(Serialize)]
struct SearchListing {
    search_id: u64,
    folder: String,
    search_type: Option<String>,
    /// `running`, `died`, `unknown` (the liveness cannot be told) or the published end state,
    /// as `status` says it.
    state: Option<String>,
    /// The state as a sentence (who runs it, why it is unknown, how to resume it).
    state_detail: Option<String>,
    created: Option<u64>,
    succeeded: Option<u64>,
    failed: Option<u64>,
    /// Stopped early by the `early_stopping` rule.
    pruned: Option<u64>,
    /// Waiting in a scheduler's queue, apart from the running ones.
    queued: Option<u64>,
    running: Option<u64>,
    planned: Option<u64>,
    best_loss: Option<f64>,
    best_id: Option<u64>,
    updated_at: Option<f64>,
}

fn listings(project: &std::path::Path) -> Vec<SearchListing> {
    existing_ids(project)
        .into_iter()
        .map(|id| {
            let paths = SearchPaths::new(project, id);
            let s = load_snapshot(project, id);
            let sum = s.as_ref().map(|s| &s.summary);
            let live = s.as_ref().map(|s| search_state(&paths.lock(), &s.state));
            SearchListing {
                search_id: id,
                folder: paths.dir.display().to_string(),
                search_type: s.as_ref().map(|s| s.search_type.clone()),
                state: live.as_ref().map(|l| l.word().to_string()),
                state_detail: live.as_ref().map(|l| l.describe(&paths.dir)),
                created: sum.map(|m| m.created),
                succeeded: sum.map(|m| m.succeeded),
                failed: sum.map(|m| m.failed),
                pruned: sum.map(|m| m.pruned),
                queued: sum.map(|m| m.queued),
                running: sum.map(|m| m.running),
                planned: sum.and_then(|m| m.planned),
                best_loss: sum.and_then(|m| m.best_loss),
                best_id: sum.and_then(|m| m.best_id),
                updated_at: s.as_ref().map(|s| s.updated_at),
            }
        })
        .collect()
}

async fn api_searches(State(state): State<Shared>) -> Json<Vec<SearchListing>> {
    Json(listings(&state.options.project))
}

async fn api_search(State(state): State<Shared>, UrlPath(id): UrlPath<u64>) -> Response {
    match analysed(&state, id) {
        Ok((analysis, _)) => Json(analysis.as_ref().clone()).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn search_fragment(State(state): State<Shared>, UrlPath(id): UrlPath<u64>) -> Response {
    match analysed(&state, id) {
        Ok((_, fragment)) => Html(fragment.as_ref().clone()).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn figure_svg(
    State(state): State<Shared>,
    UrlPath((id, file)): UrlPath<(u64, String)>,
) -> Response {
    let (analysis, _) = match analysed(&state, id) {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let stem = file.strip_suffix(".svg").unwrap_or(&file);
    let Some(figure) = Figure::all(&analysis)
        .into_iter()
        .find(|f| f.stem(&analysis) == stem)
    else {
        return not_found(format!("search {id} has no figure {file}")).into_response();
    };
    match figure.svg(&analysis) {
        Ok(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

fn index_table(project: &std::path::Path) -> String {
    let mut out = String::from("<table id=\"searches\"><tr><th>search</th><th>type</th><th>state</th><th>done</th><th>failed</th><th>pruned</th><th>queued</th><th>running</th><th>best loss</th><th>folder</th></tr>");
    for s in listings(project) {
        let done = s.succeeded.unwrap_or(0) + s.failed.unwrap_or(0) + s.pruned.unwrap_or(0);
        let _ = write!(
            out,
            "<tr data-id=\"{0}\"><td><a class=\"search-link\" href=\"/search/{0}\">search {0}</a></td><td>{1}</td><td class=\"state\" title=\"{9}\">{2}</td><td>{3}/{4}</td><td>{5}</td><td>{11}</td><td>{10}</td><td>{6}</td><td>{7}</td><td>{8}</td></tr>",
            s.search_id,
            escape(s.search_type.as_deref().unwrap_or("?")),
            escape(s.state.as_deref().unwrap_or("starting")),
            done,
            s.planned.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
            s.failed.unwrap_or(0),
            s.running.unwrap_or(0),
            s.best_loss.map(|b| format!("{b:.6}")).unwrap_or_default(),
            escape(&s.folder),
            escape(s.state_detail.as_deref().unwrap_or_default()),
            s.queued.unwrap_or(0),
            s.pruned.unwrap_or(0)
        );
    }
    out.push_str("</table>");
    out
}

async fn index_fragment(State(state): State<Shared>) -> Html<String> {
    Html(index_table(&state.options.project))
}

/// A page whose `#content` is replaced by `fragment_url`'s answer every refresh interval.
fn live_page(title: &str, content: &str, fragment_url: &str, refresh_seconds: f64) -> String {
    let millis = (refresh_seconds * 1000.0).round() as u64;
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>{title}</title><style>{STYLE}
#live{{font-size:13px;color:#555}}</style></head><body>
<p id=\"live\"><a href=\"/\">all searches</a> · live: refreshes every {refresh_seconds} s · last update <span id=\"updated\">now</span></p>
<div id=\"content\">{content}</div>
<script>
(function () {{
  const query = window.location.search;
  async function refresh() {{
    try {{
      const response = await fetch('{fragment_url}' + query, {{cache: 'no-store'}});
      if (!response.ok) return;
      document.getElementById('content').innerHTML = await response.text();
      document.getElementById('updated').textContent = new Date().toLocaleTimeString();
      for (const a of document.querySelectorAll('a.search-link')) {{ a.href = a.getAttribute('href').split('?')[0] + query; }}
    }} catch (e) {{ /* the dashboard is restarting: try again next time */ }}
  }}
  for (const a of document.querySelectorAll('a')) {{ if ((a.getAttribute('href') || '').startsWith('/')) a.href = a.getAttribute('href') + query; }}
  setInterval(refresh, {millis});
}})();
</script></body></html>\n",
        title = escape(title),
    )
}

async fn index_page(State(state): State<Shared>) -> Html<String> {
    let project = &state.options.project;
    let content = format!(
        "<h1>hpsearch dashboard</h1><p class=\"note\">Project {}</p>{}",
        escape(&project.display().to_string()),
        index_table(project)
    );
    Html(live_page(
        "hpsearch dashboard",
        &content,
        "/api/index_fragment",
        state.options.refresh_seconds,
    ))
}

async fn search_page(State(state): State<Shared>, UrlPath(id): UrlPath<u64>) -> Response {
    let (_, fragment) = match analysed(&state, id) {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    Html(live_page(
        &format!("hpsearch: search {id}"),
        &fragment,
        &format!("/api/searches/{id}/fragment"),
        state.options.refresh_seconds,
    ))
    .into_response()
}
