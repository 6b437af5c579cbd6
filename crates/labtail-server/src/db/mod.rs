//! The database: users (and, through tower-sessions' store, sessions).
//!
//! SQLite is the embedded default; Postgres serves several nodes. Every
//! query lives here, so the rest of the server never sees SQL: that is why
//! this file is longer than most (each query is one dialect-neutral text,
//! with the row types it reads). The audit log's writer task is in
//! `audit_writer.rs`, the tests against both databases in `tests.rs`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::coalesce::Coalesce;
use audit_writer::{AUDIT_BATCH, AuditWrite, audit_writer};

mod audit_writer;
#[cfg(test)]
mod tests;
pub use crate::config::DbOptions;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// Roles are fixed: they decide which containers a user may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum Role {
    Student,
    Instructor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Instructor => "instructor",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "student" => Ok(Role::Student),
            "instructor" => Ok(Role::Instructor),
            other => Err(format!(
                "unknown role {other:?}: expected student or instructor"
            )),
        }
    }
}

/// A user row. `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub password_hash: String,
    /// Bumped to end every session of the user.
    pub session_epoch: i64,
    pub created_at: String,
}

impl UserRow {
    /// What a session is bound to: the password hash and the session epoch.
    /// A new password or a revoke changes it, which ends the sessions.
    pub fn auth_hash(&self) -> String {
        auth_hash(&self.password_hash, self.session_epoch)
    }
}

fn auth_hash(password_hash: &str, epoch: i64) -> String {
    format!("{password_hash}#{epoch}")
}

#[derive(sqlx::FromRow)]
struct RawUser {
    id: i64,
    username: String,
    role: String,
    password_hash: String,
    session_epoch: i64,
    created_at: String,
}

const USER_COLUMNS: &str = "id, username, role, password_hash, session_epoch, created_at";

/// One audit record (`GET /api/audit`, `labtail audit --json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub username: String,
    pub ip: Option<String>,
    pub container: Option<String>,
    pub ended_at: Option<String>,
    pub detail: Option<String>,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL {url:?} is not usable: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    #[error("the database holds a role labtail does not know: {0:?}")]
    BadRow(String),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The error of a read shared by several askers.
    #[error("{0}")]
    Shared(Arc<DbError>),
    #[error("the database writer has stopped")]
    WriterGone,
}

/// A usable user name: what labels and URLs can carry without escaping.
pub fn validate_username(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid user name {name:?}: use 1-64 of a-z 0-9 . _ -, starting with a letter or digit"
        ))
    }
}

/// The connection pool, SQLite (the embedded default) or Postgres (for
/// several nodes). Every query is written once, with `$n` placeholders, which
/// both dialects accept; [`with_pool!`] runs it on whichever pool is open.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the concrete pool. The body is the same
/// text for both dialects; only its types differ.
macro_rules! with_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match &$db.pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

type SharedUser = Result<Option<UserRow>, Arc<DbError>>;

#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    /// Concurrent reads of one user share one query (`coalesce.rs`).
    users: Arc<Coalesce<i64, SharedUser>>,
    /// The audit log's one writer (see [`Db::audit`]).
    writes: mpsc::Sender<AuditWrite>,
}

/// Counts one query of kind `op` (`labtail_db_queries_total`).
pub(crate) fn count(op: &'static str) {
    metrics::counter!(crate::metrics::DB_QUERIES, "op" => op).increment(1);
}

/// Now, as the text timestamps in the database hold it (UTC, RFC 3339 with
/// milliseconds). Computed here rather than in SQL so both dialects agree.
fn now_text() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

impl Db {
    /// Opens (creating a SQLite file if needed) and migrates the database.
    /// `sqlite:` URLs open the embedded database; `postgres://` (or
    /// `postgresql://`) URLs a Postgres server shared by several nodes.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with(url, DbOptions::default()).await
    }

    /// [`Db::connect`] with the pool sized and timed by `o`.
    pub async fn connect_with(url: &str, o: DbOptions) -> Result<Self, DbError> {
        let bad = |reason: String| DbError::BadUrl {
            url: redact(url),
            reason,
        };
        let max_connections = o.max_connections.max(1);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url).map_err(|e| bad(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(o.acquire_timeout)
                .connect_with(opts)
                .await
                .map_err(|e| bad(e.to_string()))?;
            sqlx::migrate!("../../migrations/postgres")
                .run(&pool)
                .await?;
            return Ok(Db::with(Pool::Postgres(pool)));
        }
        if !url.starts_with("sqlite:") {
            return Err(bad(
                "expected a sqlite: URL (e.g. sqlite://labtail-data/labtail.db) \
                 or a postgres:// URL"
                    .into(),
            ));
        }
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| bad(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(o.acquire_timeout)
            .connect_with(opts)
            .await
            .map_err(|e| bad(e.to_string()))?;
        sqlx::migrate!("../../migrations/sqlite").run(&pool).await?;
        Ok(Db::with(Pool::Sqlite(pool)))
    }

    fn with(pool: Pool) -> Db {
        let (writes, rx) = mpsc::channel(4 * AUDIT_BATCH);
        tokio::spawn(audit_writer(pool.clone(), rx));
        Db {
            pool,
            users: Arc::default(),
            writes,
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        with_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn create_user(
        &self,
        username: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<UserRow, DbError> {
        let res = with_pool!(self, p => sqlx::query(
            "INSERT INTO users (username, role, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(username)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now_text())
        .execute(p)
        .await
        .map(|_| ()));
        match res {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(DbError::UserExists(username.to_owned()));
            }
            other => other?,
        }
        self.user_by_name(username)
            .await?
            .ok_or_else(|| DbError::NoSuchUser(username.to_owned()))
    }

    /// The user with this id. Every socket event and handshake asks it, so
    /// concurrent asks for one user share one query.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, DbError> {
        let db = self.clone();
        let read = async move { db.read_user_by_id(id).await.map_err(Arc::new) };
        self.users.get(id, read).await.map_err(DbError::Shared)
    }

    async fn read_user_by_id(&self, id: i64) -> Result<Option<UserRow>, DbError> {
        count("user_by_id");
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<RawUser> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
        row.map(to_user).transpose()
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, DbError> {
        count("user_by_name");
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row: Option<RawUser> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(username).fetch_optional(p).await)?;
        row.map(to_user).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>, DbError> {
        count("list_users");
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        let rows: Vec<RawUser> = with_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?;
        rows.into_iter().map(to_user).collect()
    }

    /// Ends every session of a user (and so their sockets).
    pub async fn revoke_sessions(&self, username: &str) -> Result<(), DbError> {
        let n = with_pool!(self, p => sqlx::query(
            "UPDATE users SET session_epoch = session_epoch + 1 WHERE username = $1",
        )
        .bind(username)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        self.users.forget_all();
        if n == 0 {
            return Err(DbError::NoSuchUser(username.to_owned()));
        }
        Ok(())
    }

    /// Records an event; returns its id. Audit writes go through one
    /// writer task that commits what is queued in one transaction: when a
    /// class reconnects at once, thousands of watch records cost a few
    /// commits, not a connection each (on SQLite every write takes the one
    /// write lock, and waiting writers held the pool's connections).
    pub async fn audit(
        &self,
        kind: &str,
        username: &str,
        ip: Option<&str>,
        container: Option<&str>,
        detail: Option<&str>,
    ) -> Result<i64, DbError> {
        let (reply, answer) = oneshot::channel();
        let w = AuditWrite::Insert {
            at: now_text(),
            kind: kind.to_owned(),
            username: username.to_owned(),
            ip: ip.map(str::to_owned),
            container: container.map(str::to_owned),
            detail: detail.map(str::to_owned),
            reply,
        };
        self.write(w, answer).await
    }

    /// Marks the end of a watch (through the audit writer, committed when
    /// this returns).
    pub async fn audit_end(&self, id: i64) -> Result<(), DbError> {
        let (reply, answer) = oneshot::channel();
        let w = AuditWrite::End {
            at: now_text(),
            id,
            reply,
        };
        self.write(w, answer).await.map(|_| ())
    }

    /// Hands `w` to the audit writer and waits for its commit.
    async fn write(
        &self,
        w: AuditWrite,
        answer: oneshot::Receiver<Result<i64, Arc<DbError>>>,
    ) -> Result<i64, DbError> {
        self.writes.send(w).await.map_err(|_| DbError::WriterGone)?;
        answer
            .await
            .map_err(|_| DbError::WriterGone)?
            .map_err(DbError::Shared)
    }

    /// Closes watches left open by a crash or a kill, at start-up.
    ///
    /// With several nodes on one Postgres, the watches of the other nodes
    /// are open too, so only a single node (SQLite) closes them; a shared
    /// database keeps them until their node ends them.
    pub async fn audit_close_open_watches(&self) -> Result<u64, DbError> {
        if matches!(self.pool, Pool::Postgres(_)) {
            return Ok(0);
        }
        let n = with_pool!(self, p => sqlx::query(
            "UPDATE audit SET ended_at = $1, detail = coalesce(detail, 'closed at restart') \
             WHERE kind = 'watch' AND ended_at IS NULL",
        )
        .bind(now_text())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// The newest audit records first, optionally for one user.
    pub async fn audit_log(
        &self,
        username: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, DbError> {
        count("audit_log");
        let rows = match username {
            Some(u) => with_pool!(self, p => sqlx::query_as(
                "SELECT id, at, kind, username, ip, container, ended_at, detail FROM audit \
                 WHERE username = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(u)
            .bind(limit)
            .fetch_all(p)
            .await)?,
            None => with_pool!(self, p => sqlx::query_as(
                "SELECT id, at, kind, username, ip, container, ended_at, detail FROM audit \
                 ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(p)
            .await)?,
        };
        Ok(rows)
    }

    pub async fn remove_user(&self, username: &str) -> Result<(), DbError> {
        let n = with_pool!(self, p => sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        self.users.forget_all();
        if n == 0 {
            return Err(DbError::NoSuchUser(username.to_owned()));
        }
        Ok(())
    }

    pub async fn set_password(&self, username: &str, password_hash: &str) -> Result<(), DbError> {
        let n = with_pool!(self, p => sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE username = $2",
        )
        .bind(password_hash)
        .bind(username)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        self.users.forget_all();
        if n == 0 {
            return Err(DbError::NoSuchUser(username.to_owned()));
        }
        Ok(())
    }

    /// For each id, the current auth hash, or nothing when the user is gone.
    /// Used to end the sockets of removed users and changed passwords.
    pub async fn auth_hashes(
        &self,
        ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, String>, DbError> {
        let mut out = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            count("auth_hashes");
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, password_hash, session_epoch FROM users WHERE id IN ({})",
                placeholders.join(",")
            );
            let rows: Vec<(i64, String, i64)> = with_pool!(self, p => {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await
            })?;
            for (id, hash, epoch) in rows {
                out.insert(id, auth_hash(&hash, epoch));
            }
        }
        Ok(out)
    }
}

impl Db {
    /// Whether several nodes may share this database (and its sessions).
    pub fn is_shared(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// Of the given session ids, those that still exist in the shared
    /// session store, with their expiry (seconds since the epoch). Reads the
    /// table of tower-sessions' `PostgresStore` (its default schema and
    /// name) in one query, rather than one load per session. `None` for a
    /// database only one node uses: there, logout ends sockets directly.
    pub async fn live_sessions(
        &self,
        ids: &[String],
    ) -> Result<Option<std::collections::HashMap<String, i64>>, DbError> {
        let Pool::Postgres(p) = &self.pool else {
            return Ok(None);
        };
        count("live_sessions");
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, extract(epoch FROM expiry_date)::bigint FROM tower_sessions.session \
             WHERE id = ANY($1) AND expiry_date > now()",
        )
        .bind(ids)
        .fetch_all(p)
        .await?;
        Ok(Some(rows.into_iter().collect()))
    }
}

/// A database URL fit for logs and error messages: without its password.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

fn to_user(r: RawUser) -> Result<UserRow, DbError> {
    Ok(UserRow {
        id: r.id,
        username: r.username,
        role: r.role.parse().map_err(|_| DbError::BadRow(r.role))?,
        password_hash: r.password_hash,
        session_epoch: r.session_epoch,
        created_at: r.created_at,
    })
}
