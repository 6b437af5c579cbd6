//! School sign-in over HTTP: `GET /api/oidc/login` sends the browser to the
//! provider, the callback (the path of `--oidc-redirect-url`) brings it
//! back and logs it in, with the same session as a password login (so
//! sockets, logout, the re-check and several nodes work unchanged).
//! `GET /api/login-options` tells the login page what it may offer.
//!
//! The provider's side of the flow is `oidc/`; this file keeps the pending
//! sign-ins in the browser's session, makes or updates the user from the
//! groups (`db/courses.rs`), and answers failures with a stable code: an
//! HTML page for a person, JSON for `Accept: application/json`.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::audit::{self, Kind};
use crate::auth::AuthSession;
use crate::client_ip::ClientIp;
use crate::db::DbError;
use crate::oidc::{Failure, Oidc, Pending};
use crate::sessions::LOGIN_AT;
use crate::state::AppState;
use crate::wire::{Code, LoginOptions, OidcOption, WireError};

/// Session key: the sign-ins this browser has started and not finished.
const PENDING: &str = "labtail.oidc_pending";

pub(super) fn routes(oidc: Option<&Oidc>) -> Router<AppState> {
    let r = Router::new().route("/api/login-options", get(login_options));
    match oidc {
        Some(o) => r
            .route("/api/oidc/login", get(begin))
            .route(o.callback_path(), get(callback)),
        None => r,
    }
}

async fn login_options(State(app): State<AppState>) -> Response {
    axum::Json(LoginOptions {
        local: app.cfg.local_login,
        oidc: app.oidc.as_ref().map(|o| OidcOption {
            name: o.display_name().to_owned(),
            url: "/api/oidc/login".into(),
        }),
    })
    .into_response()
}

/// The routes exist only with a provider; this is for the type's sake.
fn no_oidc() -> Response {
    WireError::new(Code::NotFound, "no school sign-in here")
        .http()
        .into_response()
}

/// Starts a sign-in: 302 to the provider.
async fn begin(State(app): State<AppState>, auth: AuthSession) -> Response {
    let Some(oidc) = app.oidc.as_ref() else {
        return no_oidc();
    };
    let now = crate::clock::now_secs();
    let (url, pending) = oidc.begin(now);
    let mut all: Vec<Pending> = auth
        .session
        .get(PENDING)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    all.push(pending);
    // Several tabs may sign in at once; the oldest beyond the bound go.
    let excess = all.len().saturating_sub(crate::oidc::MAX_PENDING);
    all.drain(..excess);
    if let Err(e) = auth.session.insert(PENDING, all).await {
        tracing::error!(error = %e, "session error");
        return WireError::new(Code::Internal, "session error")
            .http()
            .into_response();
    }
    found(&url)
}

/// `302 Found` to `location` (what the contract promises; axum's
/// `Redirect::to` is a 303).
fn found(location: &str) -> Response {
    match header::HeaderValue::from_str(location) {
        Ok(v) => (axum::http::StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => WireError::new(Code::Internal, "bad redirect")
            .http()
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider's redirect back: on success the session is logged in and
/// the browser goes to `/`.
async fn callback(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    mut auth: AuthSession,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let wants_json = wants_json(&headers);
    let Some(oidc) = app.oidc.clone() else {
        return no_oidc();
    };
    let outcome = sign_in(&app, &oidc, &mut auth, query.ok().map(|q| q.0)).await;
    match outcome {
        Ok(username) => {
            metrics::counter!(crate::metrics::OIDC_LOGINS, "result" => "ok").increment(1);
            metrics::counter!(crate::metrics::LOGINS).increment(1);
            tracing::info!(user = %username, "signed in through the identity provider");
            audit::record(&app, Kind::Login, &username, ip, None, Some("oidc")).await;
            found("/")
        }
        Err((who, f)) => {
            metrics::counter!(crate::metrics::OIDC_LOGINS, "result" => f.code.as_str())
                .increment(1);
            metrics::counter!(crate::metrics::LOGIN_FAILURES).increment(1);
            tracing::info!(code = f.code.as_str(), reason = %f.message, "school sign-in refused");
            let detail = format!("oidc: {}: {}", f.code.as_str(), f.message);
            audit::record(
                &app,
                Kind::LoginFailed,
                who.as_deref().unwrap_or("-"),
                ip,
                None,
                Some(&detail),
            )
            .await;
            failure_page(&f, wants_json)
        }
    }
}

/// The whole callback; on failure, the user name if it got that far.
async fn sign_in(
    app: &AppState,
    oidc: &Oidc,
    auth: &mut AuthSession,
    query: Option<CallbackQuery>,
) -> Result<String, (Option<String>, Failure)> {
    let refuse = |code: Code, message: String| (None, Failure { code, message });
    let q =
        query.ok_or_else(|| refuse(Code::OidcState, "the callback's query is not valid".into()))?;
    // Whatever happens next, this state is used up.
    let mut pending: Vec<Pending> = auth
        .session
        .get(PENDING)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let state = q.state.unwrap_or_default();
    let now = crate::clock::now_secs();
    let found = oidc.take_pending(&mut pending, &state, now);
    let saved = if pending.is_empty() {
        auth.session
            .remove::<Vec<Pending>>(PENDING)
            .await
            .map(|_| ())
    } else {
        auth.session.insert(PENDING, pending).await
    };
    if let Err(e) = saved {
        tracing::error!(error = %e, "session error");
    }
    let found = found.map_err(|f| (None, f))?;
    if let Some(err) = q.error {
        // The provider said no (the user cancelled, or is not allowed).
        let what = q.error_description.unwrap_or_default();
        return Err(refuse(
            Code::OidcToken,
            format!("the provider refused the sign-in: {err} {what}")
                .trim()
                .to_owned(),
        ));
    }
    let code = q
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| refuse(Code::OidcToken, "the provider sent no code".into()))?;
    let who = oidc.finish(&code, found).await.map_err(|f| (None, f))?;
    let name = Some(who.username.clone());
    let Some(mapped) = oidc.groups().map(&who.groups) else {
        return Err((
            name,
            Failure {
                code: Code::OidcUnmapped,
                message:
                    "your groups give you no role in labtail; ask your instructor or the operator"
                        .into(),
            },
        ));
    };
    // The identity decides the account; the name only names a new one.
    let existing = app
        .db
        .user_by_identity(&who.issuer, &who.subject)
        .await
        .map_err(|e| (name.clone(), internal(e)))?;
    let username = match &existing {
        Some(u) => u.username.clone(),
        None => {
            let taken = app
                .db
                .user_by_name(&who.username)
                .await
                .map_err(|e| (name.clone(), internal(e)))?;
            if taken.is_some() {
                return Err((
                    name,
                    Failure {
                        code: Code::OidcConflict,
                        message: format!(
                            "the user name {:?} belongs to another account; the operator must resolve it",
                            who.username
                        ),
                    },
                ));
            }
            who.username.clone()
        }
    };
    let new_hash = if existing.is_none() {
        // An account made by the provider has no usable password: the
        // hash of a random secret nobody knows.
        crate::auth::hash_password(random_secret())
            .await
            .map_err(|e| (name.clone(), internal(e)))?
    } else {
        String::new()
    };
    let row = app
        .db
        .sync_identity(
            &who.issuer,
            &who.subject,
            &username,
            mapped.role,
            &mapped.courses,
            &new_hash,
        )
        .await
        .map_err(|e| match e {
            DbError::UserExists(_) => (
                name.clone(),
                Failure {
                    code: Code::OidcConflict,
                    message: format!("the user name {username:?} belongs to another account"),
                },
            ),
            e => (name.clone(), internal(e)),
        })?;
    log_in(auth, row).await.map_err(|f| (name.clone(), f))?;
    Ok(username)
}

async fn log_in(auth: &mut AuthSession, row: crate::db::UserRow) -> Result<(), Failure> {
    let user = crate::auth::User::from(row);
    // A fresh session id (session fixation).
    auth.session.cycle_id().await.map_err(internal)?;
    auth.login(&user).await.map_err(internal)?;
    auth.session
        .insert(LOGIN_AT, crate::clock::now_secs())
        .await
        .map_err(internal)?;
    Ok(())
}

fn internal(e: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %e, "school sign-in: internal error");
    Failure {
        code: Code::Internal,
        message: "internal error; see the server log".into(),
    }
}

fn random_secret() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// The answer to a failed sign-in: no session, the code for programs, a
/// sentence and a way back for a person.
fn failure_page(f: &Failure, json: bool) -> Response {
    let err = WireError::new(f.code, f.message.clone());
    if json {
        return err.http().into_response();
    }
    let status = f.code.status();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in failed - labtail</title></head>\
         <body><main><h1>Sign-in failed</h1><p id=\"message\">{}</p>\
         <p>Error code: <code id=\"code\">{}</code></p><p><a href=\"/\">Back to labtail</a></p></main></body></html>",
        escape(&f.message),
        f.code.as_str()
    );
    let mut resp = (status, html).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
