//! The database: users (and, through tower-sessions' store, sessions).
//!
//! SQLite is the embedded default. Every query lives here, so the rest of the
//! server never sees SQL.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// Roles are fixed: they decide which containers a user may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
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

#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
}

impl Db {
    /// Opens (creating if needed) and migrates the database.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let bad = |reason: String| DbError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        if !url.starts_with("sqlite:") {
            return Err(bad(
                "only sqlite: URLs are supported by this build (e.g. sqlite://labtail-data/labtail.db)"
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
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await
            .map_err(|e| bad(e.to_string()))?;
        sqlx::migrate!("../../migrations/sqlite").run(&pool).await?;
        Ok(Db { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn create_user(
        &self,
        username: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<UserRow, DbError> {
        let res = sqlx::query("INSERT INTO users (username, role, password_hash) VALUES (?, ?, ?)")
            .bind(username)
            .bind(role.as_str())
            .bind(password_hash)
            .execute(&self.pool)
            .await;
        match res {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(DbError::UserExists(username.to_owned()));
            }
            other => {
                other?;
            }
        }
        self.user_by_name(username)
            .await?
            .ok_or_else(|| DbError::NoSuchUser(username.to_owned()))
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, DbError> {
        let row: Option<RawUser> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(to_user).transpose()
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, DbError> {
        let row: Option<RawUser> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = ?"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(to_user).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>, DbError> {
        let rows: Vec<RawUser> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(to_user).collect()
    }

    /// Ends every session of a user (and so their sockets).
    pub async fn revoke_sessions(&self, username: &str) -> Result<(), DbError> {
        let res =
            sqlx::query("UPDATE users SET session_epoch = session_epoch + 1 WHERE username = ?")
                .bind(username)
                .execute(&self.pool)
                .await?;
        if res.rows_affected() == 0 {
            return Err(DbError::NoSuchUser(username.to_owned()));
        }
        Ok(())
    }

    /// Records an event; returns its id.
    pub async fn audit(
        &self,
        kind: &str,
        username: &str,
        ip: Option<&str>,
        container: Option<&str>,
        detail: Option<&str>,
    ) -> Result<i64, DbError> {
        let res = sqlx::query(
            "INSERT INTO audit (kind, username, ip, container, detail) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(kind)
        .bind(username)
        .bind(ip)
        .bind(container)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(res.last_insert_rowid())
    }

    /// Marks the end of a watch.
    pub async fn audit_end(&self, id: i64) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE audit SET ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? AND ended_at IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Closes watches left open by a crash or a kill, at start-up.
    pub async fn audit_close_open_watches(&self) -> Result<u64, DbError> {
        let res = sqlx::query(
            "UPDATE audit SET ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), \
             detail = coalesce(detail, 'closed at restart') \
             WHERE kind = 'watch' AND ended_at IS NULL",
        )
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected())
    }

    /// The newest audit records first, optionally for one user.
    pub async fn audit_log(
        &self,
        username: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, DbError> {
        let rows = match username {
            Some(u) => {
                sqlx::query_as(
                    "SELECT id, at, kind, username, ip, container, ended_at, detail FROM audit \
                     WHERE username = ? ORDER BY id DESC LIMIT ?",
                )
                .bind(u)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT id, at, kind, username, ip, container, ended_at, detail FROM audit \
                     ORDER BY id DESC LIMIT ?",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows)
    }

    pub async fn remove_user(&self, username: &str) -> Result<(), DbError> {
        let res = sqlx::query("DELETE FROM users WHERE username = ?")
            .bind(username)
            .execute(&self.pool)
            .await?;
        if res.rows_affected() == 0 {
            return Err(DbError::NoSuchUser(username.to_owned()));
        }
        Ok(())
    }

    pub async fn set_password(&self, username: &str, password_hash: &str) -> Result<(), DbError> {
        let res = sqlx::query("UPDATE users SET password_hash = ? WHERE username = ?")
            .bind(password_hash)
            .bind(username)
            .execute(&self.pool)
            .await?;
        if res.rows_affected() == 0 {
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
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT id, password_hash, session_epoch FROM users WHERE id IN ({placeholders})"
            );
            let mut q = sqlx::query_as::<_, (i64, String, i64)>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for (id, hash, epoch) in q.fetch_all(&self.pool).await? {
                out.insert(id, auth_hash(&hash, epoch));
            }
        }
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["alice", "a", "bob.smith", "s-01", "0x"] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Alice",
            "-x",
            ".x",
            "a b",
            "a/b",
            "a=b",
            &"a".repeat(65),
            "é",
        ] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn users_round_trip_in_sqlite() {
        let dir = std::env::temp_dir().join(format!("labtail-db-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/t.db", dir.display());
        let db = Db::connect(&url).await.unwrap();
        let u = db.create_user("amy", Role::Student, "h1").await.unwrap();
        assert!(matches!(
            db.create_user("amy", Role::Student, "h").await,
            Err(DbError::UserExists(_))
        ));
        assert_eq!(db.user_by_id(u.id).await.unwrap().unwrap().username, "amy");
        db.set_password("amy", "h2").await.unwrap();
        assert_eq!(db.auth_hashes(&[u.id, 999]).await.unwrap()[&u.id], "h2#0");
        db.revoke_sessions("amy").await.unwrap();
        assert_eq!(db.auth_hashes(&[u.id]).await.unwrap()[&u.id], "h2#1");
        let id = db
            .audit("watch", "amy", Some("127.0.0.1"), Some("c1"), None)
            .await
            .unwrap();
        db.audit_end(id).await.unwrap();
        let log = db.audit_log(Some("amy"), 10).await.unwrap();
        assert_eq!(log.len(), 1);
        assert!(log[0].ended_at.is_some());
        db.remove_user("amy").await.unwrap();
        assert!(db.user_by_name("amy").await.unwrap().is_none());
        assert!(matches!(
            db.remove_user("amy").await,
            Err(DbError::NoSuchUser(_))
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
