//! The database: users, courses, the audit log (and, through
//! tower-sessions' store, sessions; lab history's tables are
//! `labtail-history`'s).
//!
//! SQLite is the embedded default; Postgres serves several nodes. Every
//! query of the server lives in this folder, so the rest of it never sees
//! SQL: this file has the pool, the row types and the errors; `users.rs`,
//! `courses.rs` and `audit.rs` the queries of each (one dialect-neutral
//! text each); `audit_writer.rs` the audit log's writer task; `tests.rs`
//! the tests against both databases.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::coalesce::Coalesce;
use audit_writer::{AUDIT_BATCH, AuditWrite, audit_writer};

mod audit_writer;
pub use crate::config::DbOptions;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// Roles are fixed: they decide which containers a user may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum Role {
    Student,
    Instructor,
    /// Sees every lab container, whatever the courses.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Instructor => "instructor",
            Role::Admin => "admin",
        }
    }

    /// Whether the role sees other users' containers (the dashboard, the
    /// audit log, class history): instructors and admins.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Instructor | Role::Admin)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "student" => Ok(Role::Student),
            "instructor" => Ok(Role::Instructor),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: expected student, instructor or admin"
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
    #[error("no course named {0:?}")]
    NoSuchCourse(String),
    #[error("course {0:?} already exists")]
    CourseExists(String),
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

mod audit;
mod courses;
pub use courses::{CourseRow, Enrolment, Source, validate_course};
#[cfg(test)]
mod tests;
mod users;

type SharedUser = Result<Option<UserRow>, Arc<DbError>>;

#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    /// Concurrent reads of one user share one query (`coalesce.rs`).
    users: Arc<Coalesce<i64, SharedUser>>,
    /// Likewise for what an instructor teaches (`courses.rs`).
    teaching: Arc<Coalesce<String, courses::SharedTeaching>>,
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
            teaching: Arc::default(),
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
