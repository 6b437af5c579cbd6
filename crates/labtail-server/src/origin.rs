//! Origin check: the defence against cross-site WebSocket hijacking and
//! login/logout CSRF.
//!
//! Browsers send `Origin` on every cross-origin request and on every
//! WebSocket handshake, and a page cannot forge it. A request whose `Origin`
//! is neither the server's own (same scheme-less authority as `Host`) nor in
//! `--allowed-origin` is refused with 403 before it reaches a session or a
//! socket. Requests without `Origin` (same-origin navigations, non-browser
//! clients) pass: they cannot carry a victim's cookie cross-site.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub struct OriginPolicy {
    allowed: Arc<[String]>,
}

/// Normalises `scheme://host[:port]`: lower case, no trailing slash.
pub fn normalise_origin(s: &str) -> Result<String, String> {
    let t = s.trim().trim_end_matches('/').to_ascii_lowercase();
    let Some((scheme, rest)) = t.split_once("://") else {
        return Err(format!(
            "origin {s:?} must look like https://host or http://host:port"
        ));
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains(['/', '?', '#', '@'])
    {
        return Err(format!(
            "origin {s:?} must look like https://host or http://host:port"
        ));
    }
    Ok(t)
}

impl OriginPolicy {
    pub fn new(allowed: &[String]) -> Result<Self, String> {
        let allowed = allowed
            .iter()
            .map(|o| normalise_origin(o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OriginPolicy {
            allowed: allowed.into(),
        })
    }

    /// `None` when the request may pass, otherwise the refused origin.
    pub fn check(&self, headers: &HeaderMap) -> Option<String> {
        let origin = headers.get(header::ORIGIN)?;
        let Ok(origin) = origin.to_str() else {
            return Some("<not text>".into());
        };
        let Ok(norm) = normalise_origin(origin) else {
            // Includes the literal "null" that sandboxed frames send.
            return Some(origin.to_owned());
        };
        if self.allowed.contains(&norm) {
            return None;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.to_ascii_lowercase());
        let authority = norm.split_once("://").map(|(_, a)| a);
        match (host, authority) {
            (Some(h), Some(a)) if h == a => None,
            _ => Some(origin.to_owned()),
        }
    }
}

pub async fn check_origin(
    axum::extract::State(policy): axum::extract::State<OriginPolicy>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(bad) = policy.check(req.headers()) {
        tracing::info!(origin = %bad, path = %req.uri().path(), "refused cross-origin request");
        metrics::counter!(crate::metrics::REQUESTS_REFUSED, "reason" => "origin").increment(1);
        return crate::wire::WireError::new(
            crate::wire::Code::ForbiddenOrigin,
            "this Origin may not use labtail",
        )
        .http()
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn same_origin_and_listed_origins_pass() {
        let p = OriginPolicy::new(&["https://Dash.Example.org/".into()]).unwrap();
        assert_eq!(p.check(&headers(None, "127.0.0.1:3000")), None);
        assert_eq!(
            p.check(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000")),
            None
        );
        assert_eq!(
            p.check(&headers(Some("https://dash.example.org"), "127.0.0.1:3000")),
            None
        );
    }

    #[test]
    fn other_origins_are_refused() {
        let p = OriginPolicy::new(&[]).unwrap();
        for o in [
            "http://evil.example",
            "http://127.0.0.1:3001",
            "null",
            "http://127.0.0.1:3000.evil.example",
        ] {
            assert!(
                p.check(&headers(Some(o), "127.0.0.1:3000")).is_some(),
                "{o}"
            );
        }
    }

    #[test]
    fn bad_configured_origins_are_config_errors() {
        assert!(OriginPolicy::new(&["example.org".into()]).is_err());
        assert!(OriginPolicy::new(&["ftp://example.org".into()]).is_err());
        assert!(OriginPolicy::new(&["https://example.org/path".into()]).is_err());
    }
}
