//! Where sessions live: in the database labtail already uses, so that every
//! node sharing a Postgres recognises a session made on any other node.
//! (SQLite, the embedded default, serves one node.)

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::db::{Db, Pool};

/// Session key holding the login time (seconds since the epoch): a session
/// ends `--session-max-age` after it, active or not.
pub const LOGIN_AT: &str = "labtail.login_at";

/// The session store of the configured database.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Store {
    /// The store for `db`, its table created if missing.
    pub async fn open(db: &Db) -> Result<Self, String> {
        let store = match db.pool() {
            Pool::Sqlite(p) => {
                let s = SqliteStore::new(p.clone());
                s.migrate().await.map_err(|e| e.to_string())?;
                Store::Sqlite(s)
            }
            Pool::Postgres(p) => {
                let s = PostgresStore::new(p.clone());
                s.migrate().await.map_err(|e| e.to_string())?;
                Store::Postgres(s)
            }
        };
        Ok(store)
    }
}

#[async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s) => s.create(record).await,
            Store::Postgres(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s) => s.save(record).await,
            Store::Postgres(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Store::Sqlite(s) => s.load(id).await,
            Store::Postgres(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s) => s.delete(id).await,
            Store::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for Store {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s) => s.delete_expired().await,
            Store::Postgres(s) => s.delete_expired().await,
        }
    }
}
