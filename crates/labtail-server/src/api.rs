//! HTTP endpoints: login/logout, who am I, containers, log download, health,
//! readiness and metrics.

use axum::Router;
use axum::body::Bytes;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use labtail_logs::{EngineState, StartError};
use serde_json::{Value, json};

use crate::auth::{AuthSession, Credentials};
use crate::state::{AppState, client_ip, scope_for, session_room};
use crate::wire;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/containers", get(containers))
        .route("/api/containers/{name}/logs", get(download))
        .route("/api/audit", get(audit_log))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// `{"error": {"code", "message"}}` with a status.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn unauthenticated() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "log in first (POST /api/login)",
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

const MAX_PASSWORD_LEN: usize = 1024;

/// The client's address (see [`crate::state::client_ip`]).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(ClientIp(client_ip(
            &parts.headers,
            peer,
            app.cfg.trust_forwarded_for,
        )))
    }
}

/// Session key holding the login time (seconds since the epoch).
pub const LOGIN_AT: &str = "labtail.login_at";

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Records an audit event; a database hiccup is logged, never fatal.
pub async fn audit(
    app: &AppState,
    kind: &str,
    user: &str,
    ip: Option<IpAddr>,
    container: Option<&str>,
    detail: Option<&str>,
) -> Option<i64> {
    let ip = ip.map(|i| i.to_string());
    match app
        .db
        .audit(kind, user, ip.as_deref(), container, detail)
        .await
    {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!(error = %e, kind, "could not write the audit log");
            None
        }
    }
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
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_payload",
            "send JSON with Content-Type: application/json",
        );
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            "the body is not JSON",
        );
    };
    let (Some(username), Some(password)) = (
        v.get("username").and_then(Value::as_str),
        v.get("password").and_then(Value::as_str),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            "expected {\"username\": string, \"password\": string}",
        );
    };
    if username.len() > 64 || password.len() > MAX_PASSWORD_LEN {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            "username or password too long",
        );
    }
    let addr = ip.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    if let Err(wait) = app.throttle.check(username, addr) {
        metrics::counter!(crate::metrics::LIMIT_HITS, "limit" => "login_attempts").increment(1);
        let secs = wait.as_secs() + 1;
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            &format!("too many failed logins; try again in {secs} s"),
        );
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
                tracing::error!(error = %e, "session cycle failed");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "session error",
                );
            }
            if let Err(e) = auth.login(&user).await {
                tracing::error!(error = %e, "login failed");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "session error",
                );
            }
            if let Err(e) = auth.session.insert(LOGIN_AT, now_secs()).await {
                tracing::error!(error = %e, "session write failed");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "session error",
                );
            }
            metrics::counter!(crate::metrics::LOGINS).increment(1);
            tracing::info!(user = %user.username, "login");
            audit(&app, "login", &user.username, ip, None, None).await;
            axum::Json(json!({"username": user.username, "role": user.role})).into_response()
        }
        Ok(None) => {
            app.throttle.failed(username, addr);
            metrics::counter!(crate::metrics::LOGIN_FAILURES).increment(1);
            tracing::info!(user = %username, "login failed");
            audit(&app, "login_failed", username, ip, None, None).await;
            error(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong user name or password",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "login error");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "login is not available right now",
            )
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
        audit(&app, "logout", &u.username, ip, None, None).await;
    }
    if let Err(e) = auth.logout().await {
        tracing::error!(error = %e, "logout failed");
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "session error",
        );
    }
    // The session's sockets hold a snapshot of it: end them explicitly.
    if let Some(sid) = sid {
        app.disconnect_room(session_room(&sid)).await;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn me(auth: AuthSession) -> Response {
    match auth.user {
        Some(u) => axum::Json(json!({"username": u.username, "role": u.role})).into_response(),
        None => unauthenticated(),
    }
}

async fn containers(auth: AuthSession, State(app): State<AppState>) -> Response {
    let Some(user) = auth.user else {
        return unauthenticated();
    };
    match app.engine.list(&scope_for(user.role, &user.username)).await {
        Ok(list) => {
            axum::Json(list.iter().map(wire::container_json).collect::<Vec<_>>()).into_response()
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            &e.to_string(),
        ),
    }
}

#[derive(Debug, serde::Deserialize)]
struct DownloadQuery {
    tail: Option<u64>,
    timestamps: Option<bool>,
}

/// The container's log as a text file: the last `tail` lines (default and
/// bound: `max_download_lines`), optionally with timestamps.
async fn download(
    auth: AuthSession,
    State(app): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<DownloadQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(user) = auth.user else {
        return unauthenticated();
    };
    let Ok(Query(q)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            "tail must be a whole number and timestamps true or false",
        );
    };
    let name = match wire::parse_container_name(Some(&Value::String(name))) {
        Ok(n) => n,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_payload", &e.message),
    };
    let scope = scope_for(user.role, &user.username);
    let container = match app.engine.find(&scope, &name).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            let e = wire::WireError::forbidden_or_missing();
            return error(StatusCode::NOT_FOUND, e.code.as_str(), &e.message);
        }
        Err(labtail_logs::DockerError::Ambiguous(names)) => {
            let msg = format!(
                "several Docker hosts have a container of that name ({}); use host/name",
                names.join(", ")
            );
            return error(StatusCode::BAD_REQUEST, "invalid_payload", &msg);
        }
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                &e.to_string(),
            );
        }
    };
    let max = app.cfg.max_download_lines;
    let tail = q.tail.map(|t| t.min(max as u64) as usize).unwrap_or(max);
    let lines = match app.engine.read_tail(&container, tail).await {
        Ok(l) => l,
        Err(StartError::NotFound) => {
            let e = wire::WireError::forbidden_or_missing();
            return error(StatusCode::NOT_FOUND, e.code.as_str(), &e.message);
        }
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                &e.to_string(),
            );
        }
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
    // The name passed the Docker-name check, so it is safe in this header.
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"{}.log\"", container.name))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[derive(Debug, serde::Deserialize)]
struct AuditQuery {
    user: Option<String>,
    limit: Option<i64>,
}

/// The audit log, newest first. Instructors only.
async fn audit_log(
    auth: AuthSession,
    State(app): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(user) = auth.user else {
        return unauthenticated();
    };
    if user.role != crate::db::Role::Instructor {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the audit log is for instructors",
        );
    }
    let Ok(Query(q)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            "user must be a name and limit a number",
        );
    };
    let limit = q.limit.unwrap_or(200).clamp(1, 10_000);
    match app.db.audit_log(q.user.as_deref(), limit).await {
        Ok(rows) => axum::Json(rows).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "audit read failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "database error",
            )
        }
    }
}

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
        if login_at.is_none_or(|t| now_secs() - t > max) {
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
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("a packet may be at most {max} bytes"),
            );
        }
    }
    next.run(req).await
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when the database and dockerd answer; 503 (with the reason) when not.
/// A part this node can do without for a while (one of several engines,
/// Redis) makes it `"status": "degraded"`, still 200.
async fn readyz(State(app): State<AppState>) -> Response {
    let db_ok = app.db.ping().await.is_ok();
    let text = |s: &EngineState| match s {
        EngineState::Up => "up".to_owned(),
        EngineState::Unknown => "starting".to_owned(),
        EngineState::Down(why) => format!("down: {why}"),
    };
    let hosts = app.engine.host_states();
    let up = hosts.iter().filter(|(_, s)| *s == EngineState::Up).count();
    // With several engines, one being down degrades the node (its
    // containers show as unavailable) but it still serves the others.
    let docker_txt = match (hosts.as_slice(), up) {
        ([(_, only)], _) => text(only),
        (all, n) if n == all.len() => "up".to_owned(),
        (_, 0) => "down".to_owned(),
        _ => "degraded".to_owned(),
    };
    let ready = db_ok && up > 0;
    let redis = app.redis_up();
    let degraded = up < hosts.len() || redis == Some(false);
    let mut body = json!({
        "status": match (ready, degraded) {
            (false, _) => "unavailable",
            (true, true) => "degraded",
            (true, false) => "ready",
        },
        "database": if db_ok { "up" } else { "down" },
        "docker": docker_txt,
    });
    if let Some(r) = redis {
        body["redis"] = json!(if r { "up" } else { "down" });
    }
    if hosts.len() > 1 {
        body["dockerHosts"] = hosts
            .iter()
            .map(|(name, s)| (name.clone(), Value::String(text(s))))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
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
