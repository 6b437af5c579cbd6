//! The HTTP API, one file per part (each with its `routes()`):
//! - `login.rs`: `POST /api/login`, `POST /api/logout`, `GET /api/me`;
//! - `containers.rs`: `GET /api/containers`, `GET /api/containers/{name}/logs`;
//! - `audit.rs`: `GET /api/audit` (instructors);
//! - `attention.rs`: `GET /api/attention`, the labs, a lab's gradebook
//!   (instructors);
//! - `history.rs`: `GET /api/history/…`: pages, search, export of lab history;
//! - `oidc.rs`: school sign-in (`GET /api/oidc/login`, the callback) and
//!   `GET /api/login-options`;
//! - `ops.rs`: `/healthz`, `/readyz`, `/metrics`;
//! - `middleware.rs`: the session's maximum age, the long-polling size bound.
//!
//! Every failure is a `WireError` (`{"error": {"code", "message"}}`), with
//! the same codes as the Socket.IO acks (`crate::wire`).

mod attention;
mod audit;
mod containers;
mod history;
mod login;
pub mod middleware;
mod oidc;
mod ops;
#[cfg(test)]
mod tests;

use axum::Router;

use crate::state::AppState;

pub fn routes(oidc: Option<&crate::oidc::Oidc>) -> Router<AppState> {
    Router::new()
        .merge(login::routes())
        .merge(oidc::routes(oidc))
        .merge(containers::routes())
        .merge(audit::routes())
        .merge(attention::routes())
        .merge(history::routes())
        .merge(ops::routes())
}
