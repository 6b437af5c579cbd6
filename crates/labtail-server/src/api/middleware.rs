//! Request policies that run before the routes (see `lib.rs` for the order).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::auth::AuthSession;
use crate::sessions::LOGIN_AT;
use crate::state::AppState;
use crate::wire::{Code, WireError};

/// Ends sessions older than `session_max_age` (counted from login, whatever
/// the activity), before any handler or socket sees them.
pub async fn enforce_session_age(
    State(app): State<AppState>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(auth) = req.extensions_mut().get_mut::<AuthSession>()
        && auth.user.is_some()
    {
        let login_at: Option<i64> = auth.session.get(LOGIN_AT).await.ok().flatten();
        let max = app.cfg.session_max_age.as_secs() as i64;
        if login_at.is_none_or(|t| crate::clock::now_secs() - t > max) {
            tracing::info!("session past its maximum age; logging out");
            let _ = auth.logout().await;
        }
    }
    next.run(req).await
}

/// A long-polling POST larger than `--max-payload` gets a clear 413 here
/// (engine.io would only close the session). A WebSocket message over the
/// bound ends the session in engineioxide, which closes the WebSocket with
/// no status code (docs/socketio.md).
pub async fn limit_socket_payload(
    State(max): State<u64>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() == axum::http::Method::POST && req.uri().path().starts_with("/socket.io") {
        let len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if len.is_some_and(|l| l > max) {
            metrics::counter!(crate::metrics::LIMIT_HITS, "limit" => "payload").increment(1);
            return WireError::new(
                Code::PayloadTooLarge,
                format!("a packet may be at most {max} bytes"),
            )
            .http()
            .into_response();
        }
    }
    next.run(req).await
}
