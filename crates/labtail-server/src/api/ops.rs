//! For operators and load balancers: liveness, readiness, metrics.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use labtail_logs::EngineState;

use crate::state::AppState;
use crate::wire::{Readiness, ReadyStatus, UpDown};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok\n"
}

fn engine_text(s: &EngineState) -> String {
    match s {
        EngineState::Up => "up".to_owned(),
        EngineState::Unknown => "starting".to_owned(),
        EngineState::Down(why) => format!("down: {why}"),
    }
}

/// 200 when the database and dockerd answer; 503 (with the reason) when not.
/// A part this node can do without for a while (one of several engines,
/// Redis) makes it `"status": "degraded"`, still 200.
async fn readyz(State(app): State<AppState>) -> Response {
    let db_ok = app.db.ping().await.is_ok();
    let hosts = app.engine.host_states();
    let up = hosts.iter().filter(|(_, s)| *s == EngineState::Up).count();
    // With several engines, one being down degrades the node (its
    // containers show as unavailable) but it still serves the others.
    let docker = match (hosts.as_slice(), up) {
        ([(_, only)], _) => engine_text(only),
        (all, n) if n == all.len() => "up".to_owned(),
        (_, 0) => "down".to_owned(),
        _ => "degraded".to_owned(),
    };
    let ready = db_ok && up > 0;
    let redis = app.redis_up();
    let degraded = up < hosts.len() || redis == Some(false);
    let body = Readiness {
        status: match (ready, degraded) {
            (false, _) => ReadyStatus::Unavailable,
            (true, true) => ReadyStatus::Degraded,
            (true, false) => ReadyStatus::Ready,
        },
        database: UpDown::from_bool(db_ok),
        docker,
        redis: redis.map(UpDown::from_bool),
        docker_hosts: (hosts.len() > 1).then(|| {
            hosts
                .iter()
                .map(|(name, s)| (name.clone(), engine_text(s)))
                .collect()
        }),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<AppState>) -> Response {
    let mut resp = app.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
