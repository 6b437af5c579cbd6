//! The HTTP API's answers (errors are `HttpError`, in `error.rs`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::db::Role;

/// `POST /api/login` and `GET /api/me`: who is logged in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Me {
    pub username: String,
    pub role: Role,
    /// The courses they are in (as a student or teaching), by name.
    pub courses: Vec<String>,
}

/// `GET /api/login-options`: how the login page may sign someone in
/// (asked before anyone is logged in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LoginOptions {
    /// Whether the user name and password form works (`--local-login`).
    pub local: bool,
    /// The school's sign-in, when configured.
    pub oidc: Option<OidcOption>,
}

/// The school sign-in button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OidcOption {
    /// Its text (`--oidc-display-name`).
    pub name: String,
    /// Where it goes: `/api/oidc/login`.
    pub url: String,
}

/// `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Readiness {
    pub status: ReadyStatus,
    pub database: UpDown,
    /// `up`, `starting`, `down: <why>`; with several engines `up`,
    /// `degraded` (some down) or `down`, and each in `dockerHosts`.
    pub docker: String,
    /// Only with `--redis-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub redis: Option<UpDown>,
    /// Only with several Docker engines: each one's state, as `docker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub docker_hosts: Option<BTreeMap<String, String>>,
}

/// `ready` (200), `degraded` (200: a part the node can do without is
/// down), `unavailable` (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum ReadyStatus {
    Ready,
    Degraded,
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum UpDown {
    Up,
    Down,
}

impl UpDown {
    pub fn from_bool(up: bool) -> Self {
        if up { UpDown::Up } else { UpDown::Down }
    }
}
