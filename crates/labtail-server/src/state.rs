//! What every handler shares.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use labtail_logs::{Fleet, Scope};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::ServerConfig;
use crate::db::{Db, Role};
use crate::throttle::LoginThrottle;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub cfg: ServerConfig,
    pub db: Db,
    /// The session store, to tell whether a socket's session still exists
    /// when another node may have ended it.
    pub sessions: crate::sessions::Store,
    /// The Docker engines (one by default), each with its log engine.
    pub engine: Fleet,
    pub metrics: PrometheusHandle,
    pub throttle: LoginThrottle,
    /// The instructors' dashboard feed on this node.
    pub dashboard: crate::dashboard::Dashboard,
    /// Watches per user on this node, for `max_streams_per_user`.
    streams: Mutex<HashMap<i64, usize>>,
    io: OnceLock<crate::cluster::Io>,
    /// The Redis connection behind the Socket.IO adapter, when there is one.
    redis: OnceLock<crate::cluster::RedisLink>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        cfg: ServerConfig,
        db: Db,
        sessions: crate::sessions::Store,
        engine: Fleet,
        metrics: PrometheusHandle,
    ) -> Self {
        let throttle = LoginThrottle::new(cfg.throttle.clone());
        AppState(Arc::new(Inner {
            cfg,
            db,
            sessions,
            engine,
            metrics,
            throttle,
            dashboard: Default::default(),
            streams: Mutex::new(HashMap::new()),
            io: OnceLock::new(),
            redis: OnceLock::new(),
        }))
    }

    /// Takes one of the user's stream slots; `None` when they are all used.
    /// The slot is given back when the returned guard drops.
    pub fn take_stream_slot(&self, user_id: i64) -> Option<StreamSlot> {
        let mut m = self.0.streams.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(user_id).or_insert(0);
        if *n >= self.0.cfg.max_streams_per_user {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            app: self.clone(),
            user_id,
        })
    }

    pub(crate) fn set_io(&self, io: crate::cluster::Io, redis: Option<crate::cluster::RedisLink>) {
        let _ = self.0.io.set(io);
        if let Some(r) = redis {
            let _ = self.0.redis.set(r);
        }
    }

    pub fn io(&self) -> Option<&crate::cluster::Io> {
        self.0.io.get()
    }

    /// `None` without Redis; else whether Redis is reachable now.
    pub fn redis_up(&self) -> Option<bool> {
        self.0.redis.get().map(crate::cluster::RedisLink::up)
    }

    /// Ends every socket in a room (`user:<id>` or `session:<id>`), on
    /// every node.
    pub async fn disconnect_room(&self, room: String) {
        if let Some(io) = self.io() {
            io.disconnect_room(&room, self.cfg.redis_timeout).await;
        }
    }

    /// Who watches which container, on every node: container ID → users.
    pub async fn watching(&self) -> HashMap<String, std::collections::BTreeSet<String>> {
        let mut out: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
        let Some(io) = self.io() else {
            return out;
        };
        let remote = self.redis_up() != Some(false);
        for room in io.rooms(remote, self.cfg.redis_timeout).await {
            if let Some((id, user)) = crate::dashboard::parse_watching_room(&room) {
                out.entry(id.to_owned())
                    .or_default()
                    .insert(user.to_owned());
            }
        }
        out
    }
}

/// One of a user's stream slots (see [`AppState::take_stream_slot`]).
pub struct StreamSlot {
    app: AppState,
    user_id: i64,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut m = self.app.0.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.user_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.user_id);
            }
        }
    }
}

/// The client's address: the connection's peer, or with
/// `trust_forwarded_for` the last `X-Forwarded-For` entry (the one the
/// trusted proxy appended).
pub fn client_ip(
    headers: &axum::http::HeaderMap,
    peer: Option<std::net::SocketAddr>,
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

/// The containers a role may see. The one place this rule lives.
pub fn scope_for(role: Role, username: &str) -> Scope {
    match role {
        Role::Student => Scope::Owner(username.to_owned()),
        Role::Instructor => Scope::AllLabContainers,
    }
}

pub fn session_room(session_id: &str) -> String {
    format!("session:{session_id}")
}

pub fn user_room(user_id: i64) -> String {
    format!("user:{user_id}")
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
