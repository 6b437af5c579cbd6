//! The audit log's one writer task. Every audit insert and end goes
//! through it, and it commits what is queued in one transaction: when a
//! class reconnects at once, thousands of watch records cost a few commits
//! rather than a pool connection each (on SQLite every write waits for the
//! one write lock, and waiting writers held the connections that reads
//! needed).

use labtail_history::BeginWrite;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{DbError, Pool, count};

/// What the audit writer is asked to do.
pub(super) enum AuditWrite {
    Insert {
        at: String,
        kind: String,
        username: String,
        ip: Option<String>,
        container: Option<String>,
        detail: Option<String>,
        reply: oneshot::Sender<Result<i64, Arc<DbError>>>,
    },
    End {
        at: String,
        id: i64,
        reply: oneshot::Sender<Result<i64, Arc<DbError>>>,
    },
}

/// Most audit writes committed in one transaction.
pub(super) const AUDIT_BATCH: usize = 256;

/// One audit write on `$conn`; the new row's id (0 for an end).
macro_rules! write_one {
    ($w:expr, $conn:expr) => {
        match $w {
            AuditWrite::Insert {
                at,
                kind,
                username,
                ip,
                container,
                detail,
                ..
            } => {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO audit (at, kind, username, ip, container, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(at)
                .bind(kind)
                .bind(username)
                .bind(ip)
                .bind(container)
                .bind(detail)
                .fetch_one($conn)
                .await?;
                id
            }
            AuditWrite::End { at, id, .. } => {
                sqlx::query("UPDATE audit SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                    .bind(at)
                    .bind(id)
                    .execute($conn)
                    .await?;
                0
            }
        }
    };
}

/// The audit log's one writer: takes what is queued (up to
/// [`AUDIT_BATCH`]) and commits it in one transaction. A failed batch
/// answers every insert in it with the error; the writer goes on.
pub(super) async fn audit_writer(pool: Pool, mut rx: mpsc::Receiver<AuditWrite>) {
    let mut batch = Vec::with_capacity(AUDIT_BATCH);
    while rx.recv_many(&mut batch, AUDIT_BATCH).await > 0 {
        count("audit_batch");
        let result = write_audit_batch(&pool, &batch).await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, "could not write the audit log");
        }
        for (i, w) in batch.drain(..).enumerate() {
            let (AuditWrite::Insert { reply, .. } | AuditWrite::End { reply, .. }) = w;
            let answer = match &result {
                Ok(ids) => ids.get(i).copied().ok_or(Arc::new(DbError::WriterGone)),
                Err(e) => Err(e.clone()),
            };
            // The asker may have gone: nothing to tell then.
            let _ = reply.send(answer);
        }
    }
}

/// One transaction: each insert's id, in order (ends yield 0).
async fn write_audit_batch(pool: &Pool, batch: &[AuditWrite]) -> Result<Vec<i64>, Arc<DbError>> {
    async fn run(pool: &Pool, batch: &[AuditWrite]) -> Result<Vec<i64>, DbError> {
        let mut ids = Vec::with_capacity(batch.len());
        match pool {
            Pool::Sqlite(p) => {
                let mut tx = p.begin_write().await?;
                for w in batch {
                    ids.push(write_one!(w, &mut *tx));
                }
                tx.commit().await?;
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin_write().await?;
                for w in batch {
                    ids.push(write_one!(w, &mut *tx));
                }
                tx.commit().await?;
            }
        }
        Ok(ids)
    }
    run(pool, batch).await.map_err(Arc::new)
}
