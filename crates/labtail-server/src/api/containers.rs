//! The containers a user may see, and a container's log as a file.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use labtail_logs::{DockerError, StartError};
use serde_json::Value;

use crate::auth::AuthSession;
use crate::state::AppState;
use crate::wire::{self, Code, WireError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/containers", get(containers))
        .route("/api/containers/{name}/logs", get(download))
}

fn unavailable(e: impl std::fmt::Display) -> WireError {
    WireError::new(Code::Unavailable, e.to_string())
}

async fn containers(auth: AuthSession, State(app): State<AppState>) -> Response {
    let Some(user) = auth.user else {
        return WireError::unauthenticated().http().into_response();
    };
    match crate::listing::containers_for(&app, user.role, &user.username).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(e) => e.http().into_response(),
    }
}

#[derive(Debug, serde::Deserialize)]
struct DownloadQuery {
    tail: Option<u64>,
    timestamps: Option<bool>,
}

/// The container's log as a text file: the last `tail` lines (default and
/// bound: `max_download_lines`), optionally with timestamps and streams.
async fn download(
    auth: AuthSession,
    State(app): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<DownloadQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(user) = auth.user else {
        return WireError::unauthenticated().http().into_response();
    };
    let Ok(Query(q)) = query else {
        return WireError::invalid("tail must be a whole number and timestamps true or false")
            .http()
            .into_response();
    };
    let name = match wire::parse_container_name(Some(&Value::String(name))) {
        Ok(n) => n,
        Err(e) => return e.http().into_response(),
    };
    let scope = match crate::access::access_of(&app.db, user.role, &user.username).await {
        Ok(a) => a.scope,
        Err(e) => return WireError::internal(e).http().into_response(),
    };
    let container = match app.engine.find(&scope, &name).await {
        Ok(Some(c)) => c,
        Ok(None) => return WireError::forbidden_or_missing().http().into_response(),
        Err(DockerError::Ambiguous(names)) => {
            return WireError::invalid(format!(
                "several Docker hosts have a container of that name ({}); use host/name",
                names.join(", ")
            ))
            .http()
            .into_response();
        }
        Err(e) => return unavailable(e).http().into_response(),
    };
    let max = app.cfg.max_download_lines;
    let tail = q.tail.map(|t| t.min(max as u64) as usize).unwrap_or(max);
    let lines = match app.engine.read_tail(&container, tail).await {
        Ok(l) => l,
        Err(StartError::NotFound) => {
            return WireError::forbidden_or_missing().http().into_response();
        }
        Err(e) => return unavailable(e).http().into_response(),
    };
    let ts = q.timestamps.unwrap_or(false);
    let mut body = String::with_capacity(lines.iter().map(|l| l.text.len() + 40).sum());
    for l in &lines {
        if ts {
            body.push_str(&l.cursor.ts_rfc3339());
            body.push(' ');
            body.push_str(l.stream.as_str());
            body.push(' ');
        }
        body.push_str(&l.text);
        body.push('\n');
    }
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // The name passed the Docker-name check (a `/` only between host and
    // name), so it is safe in this header once the slash is replaced.
    let file = container.name.replace('/', "_");
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}.log\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
