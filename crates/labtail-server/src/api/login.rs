//! Logging in and out, and who is logged in.

use std::net::IpAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::audit::{self, Kind};
use crate::auth::{AuthSession, Credentials};
use crate::client_ip::ClientIp;
use crate::sessions::LOGIN_AT;
use crate::state::AppState;
use crate::wire::{Code, Me, WireError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
}

const MAX_PASSWORD_LEN: usize = 1024;
const MAX_USERNAME_LEN: usize = 64;

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn session_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "session error");
    WireError::new(Code::Internal, "session error")
        .http()
        .into_response()
}

async fn login(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    mut auth: AuthSession,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // JSON only: an HTML form cannot send it cross-site without a CORS
    // preflight, which labtail never grants.
    if !is_json(&headers) {
        return WireError::invalid("send JSON with Content-Type: application/json")
            .http_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .into_response();
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return WireError::invalid("the body is not JSON")
            .http()
            .into_response();
    };
    let (Some(username), Some(password)) = (
        v.get("username").and_then(Value::as_str),
        v.get("password").and_then(Value::as_str),
    ) else {
        return WireError::invalid("expected {\"username\": string, \"password\": string}")
            .http()
            .into_response();
    };
    if username.len() > MAX_USERNAME_LEN || password.len() > MAX_PASSWORD_LEN {
        return WireError::invalid("username or password too long")
            .http()
            .into_response();
    }
    if !app.cfg.local_login {
        return WireError::new(
            Code::LocalLoginDisabled,
            "password login is off here; sign in with your school account",
        )
        .http()
        .into_response();
    }
    let addr = ip.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    if let Err(wait) = app.throttle.check(username, addr) {
        metrics::counter!(crate::metrics::LIMIT_HITS, "limit" => "login_attempts").increment(1);
        let secs = wait.as_secs() + 1;
        let mut resp = WireError::new(
            Code::RateLimited,
            format!("too many failed logins; try again in {secs} s"),
        )
        .http()
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return resp;
    }
    let creds = Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    };
    match auth.authenticate(creds).await {
        Ok(Some(user)) => {
            app.throttle.succeeded(username);
            // A fresh session id for every login (session fixation), also
            // when the browser was logged in as someone else before.
            if let Err(e) = auth.session.cycle_id().await {
                return session_error(e);
            }
            if let Err(e) = auth.login(&user).await {
                return session_error(e);
            }
            if let Err(e) = auth
                .session
                .insert(LOGIN_AT, crate::clock::now_secs())
                .await
            {
                return session_error(e);
            }
            metrics::counter!(crate::metrics::LOGINS).increment(1);
            tracing::info!(user = %user.username, "login");
            audit::record(&app, Kind::Login, &user.username, ip, None, None).await;
            me_of(&app, user.username, user.role).await
        }
        Ok(None) => {
            app.throttle.failed(username, addr);
            metrics::counter!(crate::metrics::LOGIN_FAILURES).increment(1);
            tracing::info!(user = %username, "login failed");
            audit::record(&app, Kind::LoginFailed, username, ip, None, None).await;
            WireError::new(Code::InvalidCredentials, "wrong user name or password")
                .http()
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "login error");
            WireError::new(Code::Internal, "login is not available right now")
                .http()
                .into_response()
        }
    }
}

async fn logout(
    mut auth: AuthSession,
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Response {
    let sid = auth.session.id().map(|id| id.to_string());
    if let Some(u) = &auth.user {
        audit::record(&app, Kind::Logout, &u.username, ip, None, None).await;
    }
    if let Err(e) = auth.logout().await {
        return session_error(e);
    }
    // The session's sockets hold a snapshot of it: end them explicitly.
    if let Some(sid) = sid {
        app.disconnect_room(crate::rooms::session(&sid)).await;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn me(State(app): State<AppState>, auth: AuthSession) -> Response {
    match auth.user {
        Some(u) => me_of(&app, u.username, u.role).await,
        None => WireError::unauthenticated().http().into_response(),
    }
}

/// `{username, role, courses}`.
async fn me_of(app: &AppState, username: String, role: crate::db::Role) -> Response {
    match app.db.courses_of(&username).await {
        Ok(courses) => axum::Json(Me {
            username,
            role,
            courses: courses.into_iter().map(|(c, _)| c).collect(),
        })
        .into_response(),
        Err(e) => WireError::internal(e).http().into_response(),
    }
}
