//! `hpsearch dashboard`: a read-only web page of a project's searches and a JSON API under it.
//!
//! It reads only the snapshots the coordinators publish (never a database), so it can watch
//! running searches from any host. It binds 127.0.0.1 unless told otherwise, and refuses a
//! non-loopback address without a token; with a token every request must carry it (`?token=`
//! or `Authorization: Bearer`). Pages refresh their content from the API every few seconds.
//!
//! Routes: `/` (the searches), `/search/{id}` (one search: live table and the report's figures),
//! `/api/searches` (JSON list), `/api/searches/{id}` (the report's analysis as JSON),
//! `/api/searches/{id}/fragment` (the page's content, HTML), `/api/searches/{id}/figures/{stem}.svg`.

use crate::export::Snapshot;
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

/// The analysis of a search, kept while its snapshot is unchanged.
struct Cached {
    updated_at: f64,
    analysis: Arc<Analysis>,
    fragment: Arc<String>,
}

struct AppState {
    options: DashboardOptions,
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
    let from_query = request.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| v.to_string())
    });
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let given = from_query.or(from_header).unwrap_or_default();
    if same_secret(given.as_bytes(), expected.as_bytes()) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "this dashboard needs its token: add ?token=SECRET to the address\n",
        )
            .into_response()
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
    let snapshot = load_snapshot(&state.options.project, id).ok_or_else(|| {
        not_found(format!(
            "search {id} has no published state in {}",
            state.options.project.display()
        ))
    })?;
    if let Ok(cache) = state.cache.lock() {
        if let Some(c) = cache
            .get(&id)
            .filter(|c| c.updated_at == snapshot.updated_at)
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
    state: Option<String>,
    created: Option<u64>,
    succeeded: Option<u64>,
    failed: Option<u64>,
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
            SearchListing {
                search_id: id,
                folder: paths.dir.display().to_string(),
                search_type: s.as_ref().map(|s| s.search_type.clone()),
                state: s.as_ref().map(|s| s.state.clone()),
                created: sum.map(|m| m.created),
                succeeded: sum.map(|m| m.succeeded),
                failed: sum.map(|m| m.failed),
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
    let mut out = String::from("<table id=\"searches\"><tr><th>search</th><th>type</th><th>state</th><th>done</th><th>failed</th><th>running</th><th>best loss</th><th>folder</th></tr>");
    for s in listings(project) {
        let done = s.succeeded.unwrap_or(0) + s.failed.unwrap_or(0);
        let _ = write!(
            out,
            "<tr data-id=\"{0}\"><td><a class=\"search-link\" href=\"/search/{0}\">search {0}</a></td><td>{1}</td><td>{2}</td><td>{3}/{4}</td><td>{5}</td><td>{6}</td><td>{7}</td><td>{8}</td></tr>",
            s.search_id,
            escape(s.search_type.as_deref().unwrap_or("?")),
            escape(s.state.as_deref().unwrap_or("starting")),
            done,
            s.planned.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
            s.failed.unwrap_or(0),
            s.running.unwrap_or(0),
            s.best_loss.map(|b| format!("{b:.6}")).unwrap_or_default(),
            escape(&s.folder)
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
