//! The client's address: for login throttling and the audit log.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::state::AppState;

/// The connection's peer, or with `trust_forwarded_for` the last
/// `X-Forwarded-For` entry (the one the trusted proxy appended).
pub fn client_ip(
    headers: &axum::http::HeaderMap,
    peer: Option<SocketAddr>,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    if trust_forwarded_for {
        // Only the rightmost entry was written by the trusted proxy; the
        // ones before it come from the client and prove nothing.
        let rightmost = headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|s| s.trim().parse::<IpAddr>().ok());
        if rightmost.is_some() {
            return rightmost;
        }
    }
    peer.map(|p| p.ip())
}

/// The client's address as an axum extractor (see [`client_ip`]).
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn only_the_rightmost_forwarded_entry_counts() {
        let peer = Some("10.0.0.1:5000".parse().unwrap());
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 2.2.2.2"),
        );
        assert_eq!(
            client_ip(&h, peer, false),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(client_ip(&h, peer, true), Some("2.2.2.2".parse().unwrap()));
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("3.3.3.3, garbage"),
        );
        assert_eq!(client_ip(&h, peer, true), Some("10.0.0.1".parse().unwrap()));
    }
}
