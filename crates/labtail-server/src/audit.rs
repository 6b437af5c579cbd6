//! The audit log: who logged in (or failed to), logged out, and watched
//! what, from where. Writing it never fails a request: a database hiccup
//! is logged and the request goes on.

use std::net::IpAddr;

use crate::state::AppState;

/// What an audit record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Login,
    LoginFailed,
    Logout,
    /// A watch of a container, open until it ends (`ended_at`).
    Watch,
    /// A read of another user's history over HTTP: a page, a search, an
    /// export (`detail` says which, and whose).
    HistoryRead,
    /// A course made, a user enrolled in or dropped from one (by the
    /// command line; sign-ins replace their own enrolments silently).
    Enrolment,
    /// An attention entry acknowledged or dismissed, a hand raised or
    /// answered.
    Attention,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Login => "login",
            Kind::LoginFailed => "login_failed",
            Kind::Logout => "logout",
            Kind::Watch => "watch",
            Kind::HistoryRead => "history_read",
            Kind::Enrolment => "enrolment",
            Kind::Attention => "attention",
        }
    }
}

/// Records an audit event; its row id, unless the database failed.
pub async fn record(
    app: &AppState,
    kind: Kind,
    user: &str,
    ip: Option<IpAddr>,
    container: Option<&str>,
    detail: Option<&str>,
) -> Option<i64> {
    let ip = ip.map(|i| i.to_string());
    match app
        .db
        .audit(kind.as_str(), user, ip.as_deref(), container, detail)
        .await
    {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!(error = %e, kind = kind.as_str(), "could not write the audit log");
            None
        }
    }
}
