//! What every handler shares: configuration, database, sessions, the
//! Docker engines, metrics, the login throttle, the dashboard's viewers,
//! and the Socket.IO server once it exists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use labtail_logs::Fleet;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::ServerConfig;
use crate::db::Db;
use crate::slots::{PerUser, Slot};
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
    /// Lab history (`None` with `--history off`).
    pub history: Option<Arc<crate::history::History>>,
    /// School sign-in, when configured.
    pub oidc: Option<Arc<crate::oidc::Oidc>>,
    /// Attention (`None` with history or attention off).
    pub attention: Option<Arc<labtail_attention::Attention>>,
    pub metrics: PrometheusHandle,
    pub throttle: LoginThrottle,
    /// The instructors' dashboard on this node: its viewers and snapshot.
    pub dashboard: DashboardViewers,
    /// Watches per user on this node, for `max_streams_per_user`.
    streams: PerUser,
    /// Sockets per user on this node, for `max_sockets_per_user`.
    sockets: PerUser,
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

/// The parts a node runs only when configured.
#[derive(Default)]
pub struct Optional {
    pub history: Option<Arc<crate::history::History>>,
    pub oidc: Option<Arc<crate::oidc::Oidc>>,
    pub attention: Option<Arc<labtail_attention::Attention>>,
}

impl AppState {
    pub fn new(
        cfg: ServerConfig,
        db: Db,
        sessions: crate::sessions::Store,
        engine: Fleet,
        metrics: PrometheusHandle,
        optional: Optional,
    ) -> Self {
        let Optional {
            history,
            oidc,
            attention,
        } = optional;
        let throttle = LoginThrottle::new(cfg.throttle.clone());
        AppState(Arc::new(Inner {
            cfg,
            db,
            sessions,
            engine,
            history,
            oidc,
            attention,
            metrics,
            throttle,
            dashboard: Default::default(),
            streams: PerUser::default(),
            sockets: PerUser::default(),
            io: OnceLock::new(),
            redis: OnceLock::new(),
        }))
    }

    /// Takes one of the user's stream slots; `None` when they are all used.
    /// The slot is given back when the returned guard drops.
    pub fn take_stream_slot(&self, user_id: i64) -> Option<Slot> {
        self.streams.take(user_id, self.cfg.max_streams_per_user)
    }

    /// Takes one of the user's socket slots on this node; `None` when they
    /// are all used.
    pub fn take_socket_slot(&self, user_id: i64) -> Option<Slot> {
        self.sockets.take(user_id, self.cfg.max_sockets_per_user)
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
            if let Some((id, user)) = crate::rooms::parse_watching(&room) {
                out.entry(id.to_owned())
                    .or_default()
                    .insert(user.to_owned());
            }
        }
        out
    }
}

/// The dashboard's viewers on this node and its feed task.
#[derive(Debug, Default)]
pub struct DashboardViewers {
    inner: Mutex<DashboardInner>,
}

#[derive(Debug, Default)]
struct DashboardInner {
    viewers: usize,
    feed: Option<tokio::task::AbortHandle>,
    latest: Option<crate::wire::Dashboard>,
}

impl DashboardViewers {
    fn lock(&self) -> std::sync::MutexGuard<'_, DashboardInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A viewer joined; the first one starts the feed (`start`).
    pub fn add_viewer(&self, start: impl FnOnce() -> tokio::task::AbortHandle) {
        let mut d = self.lock();
        d.viewers += 1;
        if d.viewers == 1 {
            d.feed = Some(start());
        }
    }

    /// A viewer left; the last one stops the feed (and its upstreams).
    pub fn remove_viewer(&self) {
        let mut d = self.lock();
        d.viewers = d.viewers.saturating_sub(1);
        if d.viewers == 0 {
            if let Some(t) = d.feed.take() {
                t.abort();
            }
            d.latest = None;
        }
    }

    pub fn latest(&self) -> Option<crate::wire::Dashboard> {
        self.lock().latest.clone()
    }

    pub fn set_latest(&self, v: crate::wire::Dashboard) {
        self.lock().latest = Some(v);
    }
}
