//! Every SQL query of attention (entries, checkpoints, labs), one text for
//! both dialects, on the database history uses (`labtail_history::Pool`).
//! The tables are made by `migrations/*/0005_attention.sql`.

use labtail_history::BeginWrite;
use labtail_history::Pool;
use labtail_logs::format_rfc3339_nanos;

use crate::entry::{
    CheckpointState, Entry, EntryState, Evidence, Raise, Reached, Severity, Signal, Subject,
};
use crate::labs::LabDef;

use labtail_history::with_pool;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("the database holds an entry labtail cannot read: {0}")]
    BadRow(String),
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

fn rank(s: Severity) -> i64 {
    match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The columns of an entry, in [`RawEntry`]'s order.
const ENTRY_COLUMNS: &str = "id, container_id, container_name, owner, course, lab, signal, severity, \
     title, first_at, last_at, count, evidence, state, message, answer";

#[derive(sqlx::FromRow)]
struct RawEntry {
    id: i64,
    container_id: String,
    container_name: String,
    owner: String,
    course: Option<String>,
    lab: Option<String>,
    signal: String,
    severity: String,
    title: String,
    first_at: i64,
    last_at: i64,
    count: i64,
    evidence: String,
    state: String,
    message: Option<String>,
    answer: Option<String>,
}

/// An entry with what the server checks before it shows or changes it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    pub entry: Entry,
    pub container_id: String,
}

fn to_entry(r: RawEntry) -> Result<StoredEntry, StoreError> {
    let bad = |what: &str| StoreError::BadRow(format!("entry {}: {what}", r.id));
    let signal = Signal::parse(&r.signal).ok_or_else(|| bad("signal"))?;
    let severity = Severity::parse(&r.severity).ok_or_else(|| bad("severity"))?;
    let state = match r.state.as_str() {
        "open" => EntryState::Open,
        "acknowledged" => EntryState::Acknowledged,
        "dismissed" => EntryState::Dismissed,
        _ => return Err(bad("state")),
    };
    let evidence: Vec<Evidence> = serde_json::from_str(&r.evidence).map_err(|_| bad("evidence"))?;
    Ok(StoredEntry {
        container_id: r.container_id,
        entry: Entry {
            id: r.id,
            signal,
            severity,
            owner: r.owner,
            container_name: r.container_name,
            lab: r.lab,
            course: r.course,
            title: r.title,
            first_at: format_rfc3339_nanos(r.first_at),
            last_at: format_rfc3339_nanos(r.last_at),
            count: r.count,
            evidence,
            state,
            message: r.message,
            answer: r.answer,
        },
    })
}

/// A student's checkpoint as the gradebook lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradeRow {
    pub student: String,
    pub checkpoint: String,
    pub reached_at: Option<String>,
    pub cursor: Option<String>,
}

impl Store {
    pub fn new(pool: Pool) -> Self {
        Store { pool }
    }

    /// Records a signal: the open (or acknowledged) entry of its key counts
    /// one more; a dismissed one, or none, makes a new entry. Returns the
    /// entry's ID and whether it is new.
    pub async fn raise(&self, r: &Raise, key: &str) -> Result<(i64, bool), StoreError> {
        let evidence = serde_json::to_string(&r.evidence).unwrap_or_else(|_| "[]".into());
        // 0 on an entry that exists: new evidence, no new occurrence.
        let count = i64::try_from(r.count).unwrap_or(i64::MAX);
        let now = now_ms();
        let s = &r.subject;
        let out = with_pool!(&self.pool, p => {
            let mut tx = p.begin_write().await?;
            let last: Option<(i64, String)> = sqlx::query_as(
                "SELECT id, state FROM attention_entries WHERE key = $1 ORDER BY id DESC LIMIT 1",
            )
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            let out = match last {
                Some((id, state)) if state != "dismissed" => {
                    sqlx::query(
                        "UPDATE attention_entries SET last_at = CASE WHEN last_at > $2 THEN last_at ELSE $2 END, \
                         count = count + $3, evidence = $4, title = $5, severity = $6, rank = $7, \
                         container_name = $8, updated_ms = $9 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(r.at)
                    .bind(count)
                    .bind(&evidence)
                    .bind(&r.title)
                    .bind(r.severity.as_str())
                    .bind(rank(r.severity))
                    .bind(&s.container_name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    (id, false)
                }
                _ => {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO attention_entries (key, container_id, container_name, owner, course, lab, \
                         signal, severity, rank, title, first_at, last_at, count, evidence, state, updated_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, 'open', $14) RETURNING id",
                    )
                    .bind(key)
                    .bind(&s.container_id)
                    .bind(&s.container_name)
                    .bind(&s.owner)
                    .bind(&s.course)
                    .bind(&s.lab)
                    .bind(r.signal.as_str())
                    .bind(r.severity.as_str())
                    .bind(rank(r.severity))
                    .bind(&r.title)
                    .bind(r.at)
                    .bind(count.max(1))
                    .bind(&evidence)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    (id, true)
                }
            };
            tx.commit().await?;
            Ok::<_, sqlx::Error>(out)
        })?;
        Ok(out)
    }

    /// A raised hand: always a new entry.
    pub async fn hand(
        &self,
        subject: &Subject,
        message: &str,
        at: i64,
        evidence: &[Evidence],
    ) -> Result<i64, StoreError> {
        let evidence = serde_json::to_string(evidence).unwrap_or_else(|_| "[]".into());
        let key = format!("hand:{}:{}", subject.container_id, now_ms());
        let (id,): (i64,) = with_pool!(&self.pool, p => sqlx::query_as(
            "INSERT INTO attention_entries (key, container_id, container_name, owner, course, lab, \
             signal, severity, rank, title, first_at, last_at, count, evidence, state, message, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, 'hand', 'warning', 1, $7, $8, $8, 1, $9, 'open', $10, $11) RETURNING id",
        )
        .bind(&key)
        .bind(&subject.container_id)
        .bind(&subject.container_name)
        .bind(&subject.owner)
        .bind(&subject.course)
        .bind(&subject.lab)
        .bind(format!("{} raised a hand", subject.owner))
        .bind(at)
        .bind(&evidence)
        .bind(message)
        .bind(now_ms())
        .fetch_one(p)
        .await)?;
        Ok(id)
    }

    /// Records a checkpoint reached; false if it was reached before.
    pub async fn reach(&self, r: &Reached) -> Result<bool, StoreError> {
        let s = &r.subject;
        let n = with_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO attention_checkpoints (container_id, lab, checkpoint, container_name, owner, course, \
             reached_at, cursor, text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (container_id, lab, checkpoint) DO NOTHING",
        )
        .bind(&s.container_id)
        .bind(&r.lab)
        .bind(&r.checkpoint)
        .bind(&s.container_name)
        .bind(&s.owner)
        .bind(&s.course)
        .bind(r.at)
        .bind(&r.evidence.cursor)
        .bind(&r.evidence.text)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Entries not dismissed whose last occurrence is after `since` (ns),
    /// most urgent first: severity, open before acknowledged, newest.
    pub async fn entries(&self, since: i64, limit: usize) -> Result<Vec<StoredEntry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM attention_entries WHERE state <> 'dismissed' AND last_at >= $1 \
             ORDER BY rank DESC, CASE WHEN state = 'open' THEN 0 ELSE 1 END, last_at DESC, id DESC LIMIT $2"
        );
        let rows: Vec<RawEntry> = with_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(since)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(to_entry).collect()
    }

    pub async fn entry(&self, id: i64) -> Result<Option<StoredEntry>, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM attention_entries WHERE id = $1");
        let row: Option<RawEntry> = with_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        row.map(to_entry).transpose()
    }

    /// Acknowledges or dismisses an entry.
    pub async fn set_state(
        &self,
        id: i64,
        state: EntryState,
        by: &str,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(&self.pool, p => sqlx::query(
            "UPDATE attention_entries SET state = $2, state_by = $3, updated_ms = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(by)
        .bind(now_ms())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The hands `owner` raised whose last change is after `since` (ns),
    /// not dismissed, newest first, each with who answered it (or last
    /// acknowledged it).
    pub async fn hands_of(
        &self,
        owner: &str,
        since: i64,
        limit: usize,
    ) -> Result<Vec<(StoredEntry, Option<String>)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct RawHand {
            #[sqlx(flatten)]
            entry: RawEntry,
            state_by: Option<String>,
        }
        let sql = format!(
            "SELECT {ENTRY_COLUMNS}, state_by FROM attention_entries \
             WHERE signal = 'hand' AND owner = $1 AND state <> 'dismissed' AND last_at >= $2 \
             ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<RawHand> = with_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(owner)
            .bind(since)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(p)
            .await)?;
        rows.into_iter()
            .map(|r| Ok((to_entry(r.entry)?, r.state_by)))
            .collect()
    }

    /// An instructor's answer to a raised hand.
    pub async fn answer(&self, id: i64, answer: &str, by: &str) -> Result<bool, StoreError> {
        let n = with_pool!(&self.pool, p => sqlx::query(
            "UPDATE attention_entries SET answer = $2, state = 'acknowledged', state_by = $3, updated_ms = $4 \
             WHERE id = $1 AND signal = 'hand'",
        )
        .bind(id)
        .bind(answer)
        .bind(by)
        .bind(now_ms())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The checkpoints reached in these containers, by container ID.
    pub async fn reached(
        &self,
        container_ids: &[String],
    ) -> Result<Vec<(String, String, String, i64, String)>, StoreError> {
        if container_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        // In slices: one query per few hundred containers, whatever the class.
        for ids in container_ids.chunks(500) {
            let list = (1..=ids.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT container_id, lab, checkpoint, reached_at, cursor FROM attention_checkpoints \
                 WHERE container_id IN ({list})"
            );
            let rows: Vec<(String, String, String, i64, String)> = with_pool!(&self.pool, p => {
                let mut q = sqlx::query_as(&sql);
                for id in ids {
                    q = q.bind(id);
                }
                q.fetch_all(p).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Whether `checkpoint` of `lab` was reached in the container.
    pub async fn has_reached(
        &self,
        container_id: &str,
        lab: &str,
        checkpoint: &str,
    ) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = with_pool!(&self.pool, p => sqlx::query_as(
            "SELECT reached_at FROM attention_checkpoints WHERE container_id = $1 AND lab = $2 AND checkpoint = $3",
        )
        .bind(container_id)
        .bind(lab)
        .bind(checkpoint)
        .fetch_optional(p)
        .await)?;
        Ok(row.is_some())
    }

    /// The gradebook of a lab: every student with a container of it × every
    /// checkpoint, with the first time any of their containers reached it.
    pub async fn gradebook(
        &self,
        lab: &LabDef,
        students: &[String],
    ) -> Result<Vec<GradeRow>, StoreError> {
        let rows: Vec<(String, String, i64, String)> = with_pool!(&self.pool, p => sqlx::query_as(
            "SELECT owner, checkpoint, MIN(reached_at), MIN(cursor) FROM attention_checkpoints \
             WHERE lab = $1 GROUP BY owner, checkpoint",
        )
        .bind(&lab.name)
        .fetch_all(p)
        .await)?;
        let mut out = Vec::new();
        for s in students {
            for cp in &lab.checkpoints {
                let hit = rows.iter().find(|(o, c, _, _)| o == s && *c == cp.name);
                out.push(GradeRow {
                    student: s.clone(),
                    checkpoint: cp.name.clone(),
                    reached_at: hit.map(|h| format_rfc3339_nanos(h.2)),
                    cursor: hit.map(|h| h.3.clone()),
                });
            }
        }
        Ok(out)
    }

    /// Labs defined in the web app.
    pub async fn labs(&self) -> Result<Vec<LabDef>, StoreError> {
        let rows: Vec<(String, String)> = with_pool!(&self.pool, p => sqlx::query_as(
            "SELECT name, definition FROM attention_labs ORDER BY name",
        )
        .fetch_all(p)
        .await)?;
        rows.into_iter()
            .map(|(name, d)| {
                serde_json::from_str(&d).map_err(|e| StoreError::BadRow(format!("lab {name}: {e}")))
            })
            .collect()
    }

    pub async fn put_lab(&self, def: &LabDef, by: &str) -> Result<(), StoreError> {
        let json = serde_json::to_string(def).unwrap_or_default();
        with_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO attention_labs (name, definition, updated_by, updated_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET definition = $2, updated_by = $3, updated_ms = $4",
        )
        .bind(&def.name)
        .bind(json)
        .bind(by)
        .bind(now_ms())
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The newest change to the labs table (ms), to notice edits made on
    /// another node.
    pub async fn labs_version(&self) -> Result<i64, StoreError> {
        let row: (Option<i64>, i64) = with_pool!(&self.pool, p => sqlx::query_as(
            "SELECT MAX(updated_ms), COUNT(*) FROM attention_labs",
        )
        .fetch_one(p)
        .await)?;
        Ok(row.0.unwrap_or(0) + row.1)
    }
}

/// A container's checkpoints, reached or not, for a lab's definition.
pub fn checklist(
    lab: &LabDef,
    reached: &[(String, String, String, i64, String)],
    container_id: &str,
) -> Vec<CheckpointState> {
    lab.checkpoints
        .iter()
        .map(|cp| {
            let hit = reached
                .iter()
                .find(|r| r.0 == container_id && r.1 == lab.name && r.2 == cp.name);
            CheckpointState {
                name: cp.name.clone(),
                reached_at: hit.map(|h| format_rfc3339_nanos(h.3)),
                cursor: hit.map(|h| h.4.clone()),
            }
        })
        .collect()
}
