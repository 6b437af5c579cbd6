//! Error answers: one set of stable codes for Socket.IO acks and HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Stable error codes. Clients switch on these; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum Code {
    /// No valid logged-in session (also a `connect_error` message).
    Unauthenticated,
    /// "Not yours" and "does not exist", on purpose alike.
    ForbiddenOrMissing,
    InvalidPayload,
    RateLimited,
    TooManyStreams,
    /// A `connect_error` message: the user has `--max-sockets-per-user` open.
    TooManySockets,
    /// The Docker engine (or the database) cannot answer now.
    Unavailable,
    /// Not for this role (the dashboard, the audit log).
    Forbidden,
    Internal,
    /// HTTP login: wrong user name or password.
    InvalidCredentials,
    /// HTTP: a long-polling packet over `--max-payload`.
    PayloadTooLarge,
    /// A Socket.IO event labtail does not have.
    UnknownEvent,
    /// HTTP: no such API endpoint.
    NotFound,
    /// HTTP and handshakes: an `Origin` that may not use labtail.
    ForbiddenOrigin,
    /// `POST /api/login` with `--local-login off`.
    LocalLoginDisabled,
    /// School sign-in: no pending sign-in with this `state` in this
    /// browser (forged, replayed, expired, or another browser's).
    OidcState,
    /// School sign-in: the provider refused the code (replayed, expired),
    /// or the ID token failed a check (signature, issuer, audience,
    /// expiry, nonce, algorithm).
    OidcToken,
    /// School sign-in: the user's groups map to nothing.
    OidcUnmapped,
    /// School sign-in: the provider cannot be reached.
    OidcUnavailable,
    /// School sign-in: the user name claim is missing or not a usable name.
    OidcUsername,
    /// School sign-in: the user name belongs to another identity or to a
    /// local account.
    OidcConflict,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "unauthenticated",
            Code::ForbiddenOrMissing => "forbidden_or_missing",
            Code::InvalidPayload => "invalid_payload",
            Code::RateLimited => "rate_limited",
            Code::TooManyStreams => "too_many_streams",
            Code::TooManySockets => "too_many_sockets",
            Code::Unavailable => "unavailable",
            Code::Forbidden => "forbidden",
            Code::Internal => "internal",
            Code::InvalidCredentials => "invalid_credentials",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnknownEvent => "unknown_event",
            Code::NotFound => "not_found",
            Code::ForbiddenOrigin => "forbidden_origin",
            Code::LocalLoginDisabled => "local_login_disabled",
            Code::OidcState => "oidc_state",
            Code::OidcToken => "oidc_token",
            Code::OidcUnmapped => "oidc_unmapped",
            Code::OidcUnavailable => "oidc_unavailable",
            Code::OidcUsername => "oidc_username",
            Code::OidcConflict => "oidc_conflict",
        }
    }

    /// The HTTP status an answer with this code has, unless the endpoint
    /// says otherwise.
    pub fn status(self) -> StatusCode {
        match self {
            Code::Unauthenticated | Code::InvalidCredentials | Code::OidcToken => {
                StatusCode::UNAUTHORIZED
            }
            Code::OidcState => StatusCode::BAD_REQUEST,
            Code::LocalLoginDisabled | Code::OidcUnmapped | Code::OidcUsername => {
                StatusCode::FORBIDDEN
            }
            Code::OidcConflict => StatusCode::CONFLICT,
            Code::OidcUnavailable => StatusCode::BAD_GATEWAY,
            Code::ForbiddenOrMissing | Code::NotFound => StatusCode::NOT_FOUND,
            Code::InvalidPayload | Code::UnknownEvent => StatusCode::BAD_REQUEST,
            Code::RateLimited | Code::TooManyStreams | Code::TooManySockets => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Forbidden | Code::ForbiddenOrigin => StatusCode::FORBIDDEN,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

/// `{code, message}`: what went wrong, for a program and for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(rename = "WireError"))]
pub struct WireError {
    pub code: Code,
    pub message: String,
}

impl WireError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        WireError {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidPayload, message)
    }

    /// The one answer for "not yours" and "does not exist": existence must
    /// not leak, so the message never echoes what was asked for.
    pub fn forbidden_or_missing() -> Self {
        Self::new(
            Code::ForbiddenOrMissing,
            "no such container, or not one you may see",
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(Code::Unauthenticated, "log in first (POST /api/login)")
    }

    /// Logged, with the detail; the client gets no internals.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(Code::Internal, "internal error; see the server log")
    }

    /// The Socket.IO answer: `{ok: false, error: {code, message}}`.
    pub fn ack(&self) -> ErrorAck<'_> {
        ErrorAck {
            ok: false,
            error: self,
        }
    }

    /// The HTTP answer, with the code's usual status.
    pub fn http(self) -> HttpError {
        HttpError {
            status: self.code.status(),
            error: self,
        }
    }

    /// The HTTP answer with another status (e.g. 415 for a login that is
    /// not JSON).
    pub fn http_status(self, status: StatusCode) -> HttpError {
        HttpError {
            status,
            error: self,
        }
    }
}

/// `{ok: false, error}`: every failed Socket.IO event's acknowledgement.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(rename = "ErrorAck"))]
pub struct ErrorAck<'a> {
    #[cfg_attr(test, ts(type = "false"))]
    pub ok: bool,
    pub error: &'a WireError,
}

/// `{error: {code, message}}` with a status: every failed HTTP request.
#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    pub error: WireError,
}

/// The HTTP error body.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(rename = "HttpErrorBody"))]
pub struct HttpErrorBody<'a> {
    pub error: &'a WireError,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(HttpErrorBody { error: &self.error }),
        )
            .into_response()
    }
}

impl From<WireError> for HttpError {
    fn from(e: WireError) -> Self {
        e.http()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_names() {
        for code in [
            Code::Unauthenticated,
            Code::ForbiddenOrMissing,
            Code::InvalidPayload,
            Code::RateLimited,
            Code::TooManyStreams,
            Code::TooManySockets,
            Code::Unavailable,
            Code::Forbidden,
            Code::Internal,
            Code::InvalidCredentials,
            Code::PayloadTooLarge,
            Code::UnknownEvent,
            Code::NotFound,
            Code::ForbiddenOrigin,
            Code::LocalLoginDisabled,
            Code::OidcState,
            Code::OidcToken,
            Code::OidcUnmapped,
            Code::OidcUnavailable,
            Code::OidcUsername,
            Code::OidcConflict,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }

    #[test]
    fn one_error_two_shapes() {
        let e = WireError::forbidden_or_missing();
        assert_eq!(
            serde_json::to_value(e.ack()).unwrap(),
            serde_json::json!({"ok": false, "error": {"code": "forbidden_or_missing",
                "message": "no such container, or not one you may see"}})
        );
        assert_eq!(e.http().status, StatusCode::NOT_FOUND);
    }
}
