//! What every handler shares.

use std::sync::{Arc, OnceLock};

use labtail_logs::{LogEngine, Scope};
use metrics_exporter_prometheus::PrometheusHandle;
use socketioxide::SocketIo;

use crate::config::ServerConfig;
use crate::db::{Db, Role};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub cfg: ServerConfig,
    pub db: Db,
    pub engine: LogEngine,
    pub metrics: PrometheusHandle,
    io: OnceLock<SocketIo>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(cfg: ServerConfig, db: Db, engine: LogEngine, metrics: PrometheusHandle) -> Self {
        AppState(Arc::new(Inner {
            cfg,
            db,
            engine,
            metrics,
            io: OnceLock::new(),
        }))
    }

    pub(crate) fn set_io(&self, io: SocketIo) {
        let _ = self.0.io.set(io);
    }

    pub fn io(&self) -> Option<&SocketIo> {
        self.0.io.get()
    }

    /// Ends every socket in a room (`user:<id>` or `session:<id>`).
    pub async fn disconnect_room(&self, room: String) {
        if let Some(io) = self.io()
            && let Err(e) = io.to(room.clone()).disconnect().await
        {
            tracing::warn!(%room, error = %e, "could not disconnect sockets");
        }
    }
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
