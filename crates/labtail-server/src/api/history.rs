//! Lab history over HTTP: pages of a container's whole log, searches
//! across every history the user may read, and bundles to download.
//!
//! - `GET /api/history/{name}/lines?before|after|around=CURSOR`, `?from=TIME`,
//!   `?head=true` (default: the newest lines), `&limit=N`;
//! - `GET /api/history/search?q=TEXT[&regex=true][&ignoreCase=true]
//!   [&container=NAME][&owner=USER][&from=TIME][&to=TIME][&limit=N][&after=TOKEN]`;
//! - `GET /api/history/export[?container=NAME|?owner=USER]`: a zip.
//!
//! Every read is scoped by `access.rs` (a student reads their own, an
//! instructor every student's); another user's history read is audited.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use labtail_history::search::{Query as SearchQuery, search};
use labtail_history::{Anchor, ContainerRow, ReadError, SearchError, Visible};
use labtail_logs::{Cursor, parse_rfc3339_nanos};
use serde_json::Value;

use crate::audit::{self, Kind};
use crate::auth::AuthSession;
use crate::client_ip::ClientIp;
use crate::history::{History, rfc3339};
use crate::state::AppState;
use crate::wire::{
    self, Code, HistoryEvent, HistoryEventKind, HistoryPage, HistorySearch, SearchHit, WireError,
    WireLine,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/history/search", get(search_history))
        .route("/api/history/export", get(export))
        .route("/api/history/{name}/lines", get(page))
}

type Params = HashMap<String, String>;

/// The logged-in user, history, and whose history they may read.
async fn who(
    auth: &AuthSession,
    app: &AppState,
) -> Result<(String, Visible, std::sync::Arc<History>), WireError> {
    let Some(user) = &auth.user else {
        return Err(WireError::unauthenticated());
    };
    let Some(h) = app.history.clone() else {
        return Err(WireError::new(
            Code::Unavailable,
            "lab history is off on this server (--history off)",
        ));
    };
    let access = crate::access::access_of(&app.db, user.role, &user.username)
        .await
        .map_err(WireError::internal)?;
    Ok((user.username.clone(), access.visible, h))
}

fn invalid(msg: impl Into<String>) -> WireError {
    WireError::invalid(msg)
}

fn cursor(p: &Params, key: &str) -> Result<Option<Cursor>, WireError> {
    p.get(key)
        .map(|c| {
            c.parse::<Cursor>().map_err(|_| {
                invalid(format!(
                    "{key} must be a cursor from a line of this container"
                ))
            })
        })
        .transpose()
}

fn time(p: &Params, key: &str) -> Result<Option<i64>, WireError> {
    p.get(key)
        .map(|t| {
            (t.len() <= 64)
                .then(|| parse_rfc3339_nanos(t))
                .flatten()
                .ok_or_else(|| {
                    invalid(format!(
                        "{key} must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z"
                    ))
                })
        })
        .transpose()
}

fn number(p: &Params, key: &str, default: usize) -> Result<usize, WireError> {
    match p.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| invalid(format!("{key} must be a whole number"))),
    }
}

fn flag(p: &Params, key: &str) -> Result<bool, WireError> {
    match p.get(key).map(String::as_str) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(_) => Err(invalid(format!("{key} must be true or false"))),
    }
}

fn store_error(e: impl std::fmt::Display) -> WireError {
    WireError::new(Code::Unavailable, format!("history: {e}"))
}

/// The history container `name` names, if the user may read it.
async fn lookup(h: &History, who: &Visible, name: &str) -> Result<ContainerRow, WireError> {
    let name = wire::parse_container_name(Some(&Value::String(name.to_owned())))?;
    h.find(who, &name)
        .await
        .map_err(store_error)?
        .ok_or_else(WireError::forbidden_or_missing)
}

/// Notes a read of someone else's history.
async fn audit_read(
    app: &AppState,
    ip: Option<IpAddr>,
    user: &str,
    row: &ContainerRow,
    what: &str,
) {
    if row.owner != user {
        let detail = format!("{what} of {}", row.owner);
        audit::record(
            app,
            Kind::HistoryRead,
            user,
            ip,
            Some(&row.name),
            Some(&detail),
        )
        .await;
    }
}

async fn page(
    auth: AuthSession,
    ClientIp(ip): ClientIp,
    State(app): State<AppState>,
    Path(name): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    match page_inner(&auth, ip, &app, &name, &p).await {
        Ok(page) => axum::Json(page).into_response(),
        Err(e) => e.http().into_response(),
    }
}

async fn page_inner(
    auth: &AuthSession,
    ip: Option<IpAddr>,
    app: &AppState,
    name: &str,
    p: &Params,
) -> Result<HistoryPage, WireError> {
    let (user, who, h) = who(auth, app).await?;
    let row = lookup(&h, &who, name).await?;
    let limit = number(p, "limit", 500)?.clamp(1, h.cfg.max_page_lines);
    let anchors = [
        cursor(p, "before")?.map(Anchor::Before),
        cursor(p, "after")?.map(Anchor::After),
        cursor(p, "around")?.map(Anchor::Around),
        time(p, "from")?.map(Anchor::From),
        flag(p, "head")?.then_some(Anchor::Head),
    ];
    let mut given = anchors.into_iter().flatten();
    let anchor = given.next().unwrap_or(Anchor::Tail);
    if given.next().is_some() {
        return Err(invalid(
            "give at most one of before, after, around, from, head",
        ));
    }
    let page = h
        .reader
        .page(&row, anchor, limit)
        .await
        .map_err(|e| match e {
            ReadError::UnknownCursor => WireError::new(
                Code::ForbiddenOrMissing,
                "no line with that cursor is in this container's history",
            ),
            other => store_error(other),
        })?;
    audit_read(app, ip, &user, &row, "history page").await;
    let events = page
        .events
        .iter()
        .filter_map(|e| {
            let kind = HistoryEventKind::parse(&e.kind)?;
            let before = page
                .lines
                .iter()
                .find(|l| l.n == e.line)
                .map(|l| l.line.cursor.to_string());
            Some(HistoryEvent {
                at: rfc3339(e.at),
                kind,
                before,
                exit_code: e.exit_code,
                count: e.count,
            })
        })
        .collect();
    Ok(HistoryPage {
        container_name: row.name.clone(),
        lines: page.lines.iter().map(|l| WireLine::from(&l.line)).collect(),
        events,
        more_before: page.more_before,
        more_after: page.more_after,
        pruned: page.pruned,
        total: page.total,
    })
}

/// The containers a search or an export covers: those the user may read,
/// narrowed by `container` or `owner`.
async fn selection(h: &History, who: &Visible, p: &Params) -> Result<Vec<ContainerRow>, WireError> {
    if let Some(name) = p.get("container") {
        return Ok(vec![lookup(h, who, name).await?]);
    }
    let who = match p.get("owner") {
        Some(owner) => {
            crate::db::validate_username(owner).map_err(invalid)?;
            if !who.covers(owner) {
                return Err(WireError::forbidden_or_missing());
            }
            Visible::Owner(owner.clone())
        }
        None => who.clone(),
    };
    h.store
        .containers(&who, None, 100_000)
        .await
        .map_err(store_error)
}

fn token(after: &str) -> Result<(i64, i64), WireError> {
    after
        .split_once(':')
        .and_then(|(c, n)| Some((c.parse().ok()?, n.parse().ok()?)))
        .ok_or_else(|| invalid("after must be the `next` of an earlier search"))
}

async fn search_history(
    auth: AuthSession,
    ClientIp(ip): ClientIp,
    State(app): State<AppState>,
    Query(p): Query<Params>,
) -> Response {
    match search_inner(&auth, ip, &app, &p).await {
        Ok(found) => axum::Json(found).into_response(),
        Err(e) => e.http().into_response(),
    }
}

async fn search_inner(
    auth: &AuthSession,
    ip: Option<IpAddr>,
    app: &AppState,
    p: &Params,
) -> Result<HistorySearch, WireError> {
    let (user, who, h) = who(auth, app).await?;
    let pattern = p.get("q").cloned().unwrap_or_default();
    let rows = selection(&h, &who, p).await?;
    let q = SearchQuery {
        pattern,
        regex: flag(p, "regex")?,
        ignore_case: flag(p, "ignoreCase")?,
        containers: rows.iter().map(|r| r.id).collect(),
        from_ts: time(p, "from")?.unwrap_or(i64::MIN),
        to_ts: time(p, "to")?.unwrap_or(i64::MAX),
        limit: number(p, "limit", 100)?,
        after: p.get("after").map(|a| token(a)).transpose()?,
    };
    let found = search(&h.store, &h.cfg, &q).await.map_err(|e| match e {
        SearchError::Invalid(m) => invalid(m),
        other => store_error(other),
    })?;
    if rows.iter().any(|r| r.owner != user) {
        let detail = format!("search {:?} over {} containers", q.pattern, rows.len());
        audit::record(app, Kind::HistoryRead, &user, ip, None, Some(&detail)).await;
    }
    let by_id: HashMap<i64, &ContainerRow> = rows.iter().map(|r| (r.id, r)).collect();
    Ok(HistorySearch {
        hits: found
            .hits
            .iter()
            .filter_map(|hit| {
                let row = by_id.get(&hit.container)?;
                Some(SearchHit {
                    container_name: row.name.clone(),
                    container_id: row.docker_id.get(..12).unwrap_or(&row.docker_id).to_owned(),
                    owner: row.owner.clone(),
                    line: WireLine::from(&hit.line),
                })
            })
            .collect(),
        next: found.next.map(|(c, n)| format!("{c}:{n}")),
        timed_out: found.timed_out,
        scanned: found.scanned,
    })
}

async fn export(
    auth: AuthSession,
    ClientIp(ip): ClientIp,
    State(app): State<AppState>,
    Query(p): Query<Params>,
) -> Response {
    match export_inner(&auth, ip, &app, &p).await {
        Ok(r) => r,
        Err(e) => e.http().into_response(),
    }
}

async fn export_inner(
    auth: &AuthSession,
    ip: Option<IpAddr>,
    app: &AppState,
    p: &Params,
) -> Result<Response, WireError> {
    let (user, who, h) = who(auth, app).await?;
    let rows = selection(&h, &who, p).await?;
    if rows.is_empty() {
        return Err(WireError::forbidden_or_missing());
    }
    let raw: i64 = rows.iter().map(|r| r.raw_bytes).sum();
    let max = i64::try_from(app.cfg.max_export_bytes).unwrap_or(i64::MAX);
    if raw > max {
        return Err(invalid(format!(
            "that bundle would hold {raw} bytes of logs, over the limit of {max} (--history-max-export-bytes); export fewer containers"
        )));
    }
    for r in rows.iter().filter(|r| r.owner != user) {
        audit_read(app, ip, &user, r, "history export").await;
    }
    let file = tempfile::tempfile().map_err(WireError::internal)?;
    let reader = h.reader.clone();
    let rt = tokio::runtime::Handle::current();
    let rows2 = rows.clone();
    let file = tokio::task::spawn_blocking(move || {
        let mut f = file;
        labtail_history::export::write_bundle(&reader, &rows2, &mut f, &rt)?;
        use std::io::Seek;
        f.rewind()?;
        Ok::<_, labtail_history::export::ExportError>(f)
    })
    .await
    .map_err(WireError::internal)?
    .map_err(store_error)?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(file),
    ));
    let mut resp = body.into_response();
    let name = match (p.get("container"), p.get("owner")) {
        (Some(_), _) if rows.len() == 1 => rows[0].name.replace('/', "_"),
        (_, Some(o)) => o.clone(),
        _ => "class".into(),
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"labtail-{name}.zip\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}
