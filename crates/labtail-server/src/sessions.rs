//! Where sessions live: in the database labtail already uses, so that every
//! node sharing a Postgres recognises a session made on any other node.
//! (SQLite, the embedded default, serves one node.)

use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::coalesce::Coalesce;
use crate::db::{Db, Pool, count};

/// Session key holding the login time (seconds since the epoch): a session
/// ends `--session-max-age` after it, active or not.
pub const LOGIN_AT: &str = "labtail.login_at";

/// The session store of the configured database.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// Concurrent loads of one session share one query: after a restart a
    /// whole class's sockets (several per browser) present the same few
    /// hundred sessions within a second (`coalesce.rs`).
    loads: Arc<Coalesce<Id, SharedLoad>>,
}

type SharedLoad = Result<Option<Record>, String>;

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Store {
    /// The store for `db`, its table created if missing.
    pub async fn open(db: &Db) -> Result<Self, String> {
        let backend = match db.pool() {
            Pool::Sqlite(p) => {
                let s = SqliteStore::new(p.clone());
                s.migrate().await.map_err(|e| e.to_string())?;
                Backend::Sqlite(s)
            }
            Pool::Postgres(p) => {
                let s = PostgresStore::new(p.clone());
                s.migrate().await.map_err(|e| e.to_string())?;
                Backend::Postgres(s)
            }
        };
        Ok(Store {
            backend,
            loads: Arc::default(),
        })
    }
}

#[async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        count("session_create");
        let r = match &self.backend {
            Backend::Sqlite(s) => s.create(record).await,
            Backend::Postgres(s) => s.create(record).await,
        };
        self.loads.forget(&record.id);
        r
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        count("session_save");
        let r = match &self.backend {
            Backend::Sqlite(s) => s.save(record).await,
            Backend::Postgres(s) => s.save(record).await,
        };
        self.loads.forget(&record.id);
        r
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let backend = self.backend.clone();
        let key = *id;
        let read = async move {
            count("session_load");
            let r = match &backend {
                Backend::Sqlite(s) => s.load(&key).await,
                Backend::Postgres(s) => s.load(&key).await,
            };
            r.map_err(|e| e.to_string())
        };
        self.loads
            .get(*id, read)
            .await
            .map_err(session_store::Error::Backend)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        count("session_delete");
        let r = match &self.backend {
            Backend::Sqlite(s) => s.delete(id).await,
            Backend::Postgres(s) => s.delete(id).await,
        };
        self.loads.forget(id);
        r
    }
}

#[async_trait]
impl ExpiredDeletion for Store {
    async fn delete_expired(&self) -> session_store::Result<()> {
        count("session_delete_expired");
        match &self.backend {
            Backend::Sqlite(s) => s.delete_expired().await,
            Backend::Postgres(s) => s.delete_expired().await,
        }
    }
}
