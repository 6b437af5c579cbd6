//! The audit log: logins, failures, logouts, watches, history reads.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::audit_writer::AuditWrite;
use super::{AuditRow, Db, DbError, Pool, count, now_text};

impl Db {
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
}
