//! Attention over HTTP: a user's own raised hands (`GET /api/hands`), and
//! for staff only: `GET /api/attention` (the list the
//! dashboard shows), the labs (`GET /api/labs`, `PUT /api/labs/{name}`:
//! rules and checkpoints, checked before they are kept) and a lab's
//! gradebook (`GET /api/labs/{lab}/gradebook.csv`). Every answer is
//! narrowed to the students the user may see (`access.rs`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use labtail_attention::{Attention, LabDef};

use crate::access::access_of;
use crate::auth::{AuthSession, User};
use crate::state::AppState;
use crate::wire::{Code, HttpError, Lab, OwnHand, WireError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/attention", get(list))
        .route("/api/labs", get(labs))
        .route("/api/labs/{name}", get(lab).put(put_lab))
        .route("/api/labs/{name}/gradebook.csv", get(gradebook))
        .route("/api/hands", get(hands))
}

/// `GET /api/hands`: the hands the user raised, with their answers (any
/// signed-in user; only their own, by the session's name).
async fn hands(State(app): State<AppState>, auth: AuthSession) -> Response {
    let Some(user) = auth.user else {
        return WireError::unauthenticated().http().into_response();
    };
    let Some(a) = app.attention.as_deref() else {
        return axum::Json(Vec::<OwnHand>::new()).into_response();
    };
    match crate::attention::own_hands(a, &user.username).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(e) => WireError::internal(e).http().into_response(),
    }
}

/// The staff user and attention, or the answer that refuses.
fn staff(app: &AppState, auth: AuthSession) -> Result<(User, &Attention), HttpError> {
    let Some(user) = auth.user else {
        return Err(WireError::unauthenticated().http());
    };
    if !user.role.is_staff() {
        return Err(WireError::new(Code::Forbidden, "attention is for instructors").http());
    }
    match app.attention.as_deref() {
        Some(a) => Ok((user, a)),
        None => Err(WireError::new(
            Code::Unavailable,
            "attention is off on this server (it needs lab history)",
        )
        .http()),
    }
}

async fn list(State(app): State<AppState>, auth: AuthSession) -> Response {
    let (user, a) = match staff(&app, auth) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let scope = match access_of(&app.db, user.role, &user.username).await {
        Ok(acc) => acc.scope,
        Err(e) => return WireError::internal(e).http().into_response(),
    };
    match crate::attention::entries(a, &scope).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(e) => WireError::internal(e).http().into_response(),
    }
}

async fn labs(State(app): State<AppState>, auth: AuthSession) -> Response {
    match staff(&app, auth) {
        Ok((_, a)) => {
            axum::Json(a.labs().defs().iter().map(Lab::from).collect::<Vec<_>>()).into_response()
        }
        Err(r) => r.into_response(),
    }
}

async fn lab(State(app): State<AppState>, auth: AuthSession, Path(name): Path<String>) -> Response {
    let (_, a) = match staff(&app, auth) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    match a.labs().get(&name) {
        Some(l) => axum::Json(Lab::from(&l.def)).into_response(),
        None => WireError::new(Code::NotFound, "no lab of that name")
            .http()
            .into_response(),
    }
}

/// Defines a lab (JSON: `{name, rule: [{pattern, severity, title}],
/// checkpoint: [{name, pattern}]}`); a bad pattern is `400` naming the
/// rule and the position. Every node uses it within seconds.
async fn put_lab(
    State(app): State<AppState>,
    auth: AuthSession,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let (user, a) = match staff(&app, auth) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let def: LabDef = match serde_json::from_slice::<Lab>(&body) {
        Ok(d) => d.into(),
        Err(e) => {
            return WireError::invalid(format!("not a lab definition: {e}"))
                .http()
                .into_response();
        }
    };
    if def.name != name {
        return WireError::invalid("the lab's name must be the one in the address")
            .http()
            .into_response();
    }
    match a.put_lab(&def, &user.username).await {
        Ok(()) => {
            crate::audit::record(
                &app,
                crate::audit::Kind::Attention,
                &user.username,
                None,
                None,
                Some(&format!("defined lab {name}")),
            )
            .await;
            axum::Json(Lab::from(&def)).into_response()
        }
        Err(labtail_attention::PutLabError::Invalid(m)) => {
            WireError::invalid(m).http().into_response()
        }
        Err(labtail_attention::PutLabError::Store(e)) => {
            WireError::internal(e).http().into_response()
        }
    }
}

/// `student,lab,checkpoint,reached_at,cursor`: every student the user may
/// see with a container of the lab, × every checkpoint.
async fn gradebook(
    State(app): State<AppState>,
    auth: AuthSession,
    Path(name): Path<String>,
) -> Response {
    let (user, a) = match staff(&app, auth) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let Some(lab) = a.labs().get(&name).cloned() else {
        return WireError::new(Code::NotFound, "no lab of that name")
            .http()
            .into_response();
    };
    let Some(history) = &app.history else {
        return WireError::new(Code::Unavailable, "lab history is off")
            .http()
            .into_response();
    };
    let visible = match access_of(&app.db, user.role, &user.username).await {
        Ok(acc) => acc.visible,
        Err(e) => return WireError::internal(e).http().into_response(),
    };
    let rows = match history.store.containers(&visible, None, 100_000).await {
        Ok(r) => r,
        Err(e) => return WireError::internal(e).http().into_response(),
    };
    let mut students: Vec<String> = rows
        .into_iter()
        .filter(|r| r.lab.as_deref() == Some(name.as_str()))
        .map(|r| r.owner)
        .collect();
    students.sort();
    students.dedup();
    let book = match a.store().gradebook(&lab.def, &students).await {
        Ok(b) => b,
        Err(e) => return WireError::internal(e).http().into_response(),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = ["student", "lab", "checkpoint", "reached_at", "cursor"];
    let mut ok = w.write_record(header).is_ok();
    for r in &book {
        ok &= w
            .write_record([
                r.student.as_str(),
                name.as_str(),
                r.checkpoint.as_str(),
                r.reached_at.as_deref().unwrap_or(""),
                r.cursor.as_deref().unwrap_or(""),
            ])
            .is_ok();
    }
    let body = match (ok, w.into_inner()) {
        (true, Ok(b)) => b,
        _ => {
            return WireError::new(Code::Internal, "cannot write the gradebook")
                .http()
                .into_response();
        }
    };
    crate::audit::record(
        &app,
        crate::audit::Kind::HistoryRead,
        &user.username,
        None,
        None,
        Some(&format!("gradebook of lab {name}")),
    )
    .await;
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}-gradebook.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}
