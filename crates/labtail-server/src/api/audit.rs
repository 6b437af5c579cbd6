//! `GET /api/audit`: the audit log, newest first. Instructors only.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::AuthSession;
use crate::state::AppState;
use crate::wire::{Code, WireError};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/audit", get(audit_log))
}

#[derive(Debug, serde::Deserialize)]
struct AuditQuery {
    user: Option<String>,
    limit: Option<i64>,
}

/// At most this many records in one answer (`limit`, default 200).
const MAX_AUDIT_ROWS: i64 = 10_000;

async fn audit_log(
    auth: AuthSession,
    State(app): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(user) = auth.user else {
        return WireError::unauthenticated().http().into_response();
    };
    if !user.role.is_staff() {
        return WireError::new(Code::Forbidden, "the audit log is for instructors")
            .http()
            .into_response();
    }
    let Ok(Query(q)) = query else {
        return WireError::invalid("user must be a name and limit a number")
            .http()
            .into_response();
    };
    let limit = q.limit.unwrap_or(200).clamp(1, MAX_AUDIT_ROWS);
    match app.db.audit_log(q.user.as_deref(), limit).await {
        Ok(rows) => axum::Json(rows).into_response(),
        Err(e) => WireError::internal(e).http().into_response(),
    }
}
