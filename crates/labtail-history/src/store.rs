//! Every SQL query of lab history, on SQLite (one node) or Postgres
//! (several nodes share it, so every node serves every history).
//!
//! Each query is one text with `$n` placeholders, which both dialects
//! accept; [`with_pool!`] runs it on whichever pool is open. The tables are
//! made by `migrations/*/0003_history.sql` (the server runs migrations).

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

/// A transaction that writes, on either pool.
///
/// SQLite's default transaction is deferred: it takes the write lock at its
/// first write, and one that read first then fails at once with "database
/// is locked" (SQLITE_BUSY_SNAPSHOT; no busy timeout helps) when another
/// connection wrote in between, which history's writer, attention and the
/// audit log do all the time. `BEGIN IMMEDIATE` takes the lock up front and
/// waits the pool's busy timeout for it. Postgres needs nothing of the kind.
pub trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
    + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
    + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
    + Send {
        self.begin()
    }
}

/// The database history lives in: the one the server already uses.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs one body on whichever pool is open (the body is compiled once per
/// dialect). Exported for the stores that share history's database
/// (attention's).
#[macro_export]
macro_rules! with_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::Pool::Sqlite($p) => $body,
            $crate::Pool::Postgres($p) => $body,
        }
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Another node records this engine now (this node's lease was taken).
    #[error("this node no longer records this Docker engine")]
    LeaseLost,
}

/// A container as history knows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ContainerRow {
    pub id: i64,
    /// The Docker engine's name in labtail (`local`, or a `--docker-host` name).
    pub host: String,
    pub docker_id: String,
    /// Its name now (a rename changes it).
    pub name: String,
    pub owner: String,
    pub course: Option<String>,
    pub lab: Option<String>,
    pub image: String,
    pub tty: bool,
    /// Nanoseconds since the epoch, as every time here.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub exit_code: Option<i64>,
    pub removed_at: Option<i64>,
    /// Lines recorded: the next line's number.
    pub lines: i64,
    /// The first line still kept (retention drops the oldest chunks).
    pub first_line: i64,
    pub raw_bytes: i64,
    pub stored_bytes: i64,
    /// The cursor of the last line recorded.
    pub last_cursor: Option<String>,
}

const CONTAINER_COLUMNS: &str = "id, host, docker_id, name, owner, course, lab, image, tty, \
     created_at, started_at, ended_at, exit_code, removed_at, lines, first_line, raw_bytes, \
     stored_bytes, last_cursor";

/// What the recorder knows of a container when it starts recording it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContainer {
    pub host: String,
    pub docker_id: String,
    pub name: String,
    pub owner: String,
    pub course: Option<String>,
    pub lab: Option<String>,
    pub image: String,
    pub tty: bool,
    pub created_at: i64,
}

/// A stored chunk.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChunkRow {
    pub container: i64,
    pub seq: i64,
    pub first_line: i64,
    pub lines: i64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub raw_bytes: i64,
    pub sealed: bool,
    pub data: Vec<u8>,
}

/// A chunk's place without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ChunkSpan {
    pub container: i64,
    pub seq: i64,
    pub first_line: i64,
    pub lines: i64,
    pub min_ts: i64,
    pub max_ts: i64,
}

const CHUNK_SPAN: &str = "container, seq, first_line, lines, min_ts, max_ts";

/// A chunk to store (a new one, or the container's open one grown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkWrite {
    pub container: i64,
    pub seq: i64,
    pub first_line: i64,
    pub lines: i64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub first_cursor: String,
    pub last_cursor: String,
    pub raw_bytes: i64,
    pub sealed: bool,
    pub data: Vec<u8>,
}

/// One entry of a container's timeline.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    pub container: i64,
    pub at: i64,
    /// `created`, `started`, `exited`, `removed`, `renamed`, `oom`, `gap`.
    pub kind: String,
    /// The line number it falls before.
    pub line: i64,
    pub exit_code: Option<i64>,
    /// Lines a gap lost, when known.
    pub count: Option<i64>,
    pub detail: Option<String>,
}

/// What a recorder writes, in order, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Chunk(ChunkWrite),
    Event(EventRow),
    Started {
        container: i64,
        at: i64,
    },
    Exited {
        container: i64,
        at: i64,
        exit_code: Option<i64>,
    },
    Removed {
        container: i64,
        at: i64,
    },
    Renamed {
        container: i64,
        name: String,
    },
}

/// Who writes for an engine: the lease a batch of writes is made under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub engine: String,
    pub holder: String,
    pub epoch: i64,
}

/// Which containers a read covers: the access rule (the server's
/// `access.rs` gives it), applied in SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    /// A student: their own.
    Owner(String),
    /// Several owners.
    Owners(Vec<String>),
    /// An instructor's courses: a container whose owner is a student of
    /// one of them, and, if it names a course, of that course.
    Courses(std::sync::Arc<labtail_logs::Courses>),
    /// Every lab container.
    All,
}

impl Visible {
    /// Whether `owner`'s containers (any of them) may be seen.
    pub fn covers(&self, owner: &str) -> bool {
        match self {
            Visible::Owner(o) => o == owner,
            Visible::Owners(os) => os.iter().any(|o| o == owner),
            Visible::Courses(cs) => cs.values().any(|s| s.contains(owner)),
            Visible::All => true,
        }
    }

    /// Whether this container (its owner, its course label) may be seen.
    pub fn covers_container(&self, owner: &str, course: Option<&str>) -> bool {
        match (self, course) {
            (Visible::Courses(cs), Some(c)) => cs.get(c).is_some_and(|s| s.contains(owner)),
            _ => self.covers(owner),
        }
    }
}

/// The history database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

fn count(op: &'static str) {
    metrics::counter!(crate::metrics::DB_QUERIES, "op" => op).increment(1);
}

impl Store {
    pub fn new(pool: Pool) -> Self {
        Store { pool }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The container's row, made if it is new; a known one gets its name
    /// and labels as they are now.
    pub async fn ensure_container(&self, c: &NewContainer) -> Result<ContainerRow, StoreError> {
        count("container_upsert");
        let sql = format!(
            "INSERT INTO history_containers (host, docker_id, name, owner, course, lab, image, tty, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (docker_id) DO UPDATE SET name = $3, course = $5, lab = $6 \
             RETURNING {CONTAINER_COLUMNS}"
        );
        let row = with_pool!(&self.pool, p => sqlx::query_as::<_, ContainerRow>(&sql)
            .bind(&c.host)
            .bind(&c.docker_id)
            .bind(&c.name)
            .bind(&c.owner)
            .bind(&c.course)
            .bind(&c.lab)
            .bind(&c.image)
            .bind(c.tty)
            .bind(c.created_at)
            .fetch_one(p)
            .await)?;
        Ok(row)
    }

    pub async fn container_by_docker_id(
        &self,
        docker_id: &str,
    ) -> Result<Option<ContainerRow>, StoreError> {
        count("container");
        let sql =
            format!("SELECT {CONTAINER_COLUMNS} FROM history_containers WHERE docker_id = $1");
        Ok(
            with_pool!(&self.pool, p => sqlx::query_as::<_, ContainerRow>(&sql)
            .bind(docker_id)
            .fetch_optional(p)
            .await)?,
        )
    }

    pub async fn container(&self, id: i64) -> Result<Option<ContainerRow>, StoreError> {
        count("container");
        let sql = format!("SELECT {CONTAINER_COLUMNS} FROM history_containers WHERE id = $1");
        Ok(
            with_pool!(&self.pool, p => sqlx::query_as::<_, ContainerRow>(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?,
        )
    }

    /// The containers `who` may see, newest first; with `name`, only those
    /// called that now (a name can have been used by several containers).
    pub async fn containers(
        &self,
        who: &Visible,
        name: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ContainerRow>, StoreError> {
        self.select_containers(who, name.map(|n| ("name = ", n.to_owned())), limit)
            .await
    }

    /// The containers `who` may see whose Docker ID starts with `prefix`
    /// (hex digits), two at most: one means the prefix names it.
    pub async fn containers_by_id_prefix(
        &self,
        who: &Visible,
        prefix: &str,
    ) -> Result<Vec<ContainerRow>, StoreError> {
        if !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        let pattern = format!("{}%", prefix.to_ascii_lowercase());
        self.select_containers(who, Some(("docker_id LIKE ", pattern)), 2)
            .await
    }

    async fn select_containers(
        &self,
        who: &Visible,
        filter: Option<(&str, String)>,
        limit: i64,
    ) -> Result<Vec<ContainerRow>, StoreError> {
        count("containers");
        let mut sql = format!("SELECT {CONTAINER_COLUMNS} FROM history_containers WHERE 1 = 1");
        let mut n = 0;
        let mut arg = || {
            n += 1;
            format!("${n}")
        };
        // The values bound, in the order of their placeholders.
        let mut values: Vec<String> = Vec::new();
        match who {
            Visible::Owner(o) => {
                sql.push_str(&format!(" AND owner = {}", arg()));
                values.push(o.clone());
            }
            Visible::Owners(os) => {
                if os.is_empty() {
                    return Ok(Vec::new());
                }
                let list: Vec<String> = os.iter().map(|_| arg()).collect();
                sql.push_str(&format!(" AND owner IN ({})", list.join(", ")));
                values.extend(os.iter().cloned());
            }
            Visible::Courses(cs) => {
                let all: std::collections::BTreeSet<&String> = cs.values().flatten().collect();
                if all.is_empty() {
                    return Ok(Vec::new());
                }
                // No course label: a student of any of the courses; a
                // course label: a student of that course.
                let list: Vec<String> = all.iter().map(|_| arg()).collect();
                let mut any = vec![format!(
                    "(course IS NULL AND owner IN ({}))",
                    list.join(", ")
                )];
                values.extend(all.iter().map(|o| (*o).clone()));
                for (course, students) in cs.iter().filter(|(_, s)| !s.is_empty()) {
                    let c = arg();
                    let list: Vec<String> = students.iter().map(|_| arg()).collect();
                    any.push(format!("(course = {c} AND owner IN ({}))", list.join(", ")));
                    values.push(course.clone());
                    values.extend(students.iter().cloned());
                }
                sql.push_str(&format!(" AND ({})", any.join(" OR ")));
            }
            Visible::All => {}
        }
        if let Some((column, _)) = &filter {
            sql.push_str(&format!(" AND {column}{}", arg()));
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT {}",
            arg()
        ));
        let rows = with_pool!(&self.pool, p => {
            let mut q = sqlx::query_as::<_, ContainerRow>(&sql);
            for v in &values {
                q = q.bind(v.clone());
            }
            if let Some((_, v)) = &filter {
                q = q.bind(v.clone());
            }
            q.bind(limit).fetch_all(p).await
        })?;
        Ok(rows)
    }

    /// The containers of engine `host` history does not know to be removed.
    pub async fn unfinished(&self, host: &str) -> Result<Vec<ContainerRow>, StoreError> {
        count("containers");
        let sql = format!(
            "SELECT {CONTAINER_COLUMNS} FROM history_containers WHERE host = $1 AND removed_at IS NULL"
        );
        Ok(
            with_pool!(&self.pool, p => sqlx::query_as::<_, ContainerRow>(&sql)
            .bind(host)
            .fetch_all(p)
            .await)?,
        )
    }

    /// Applies a recorder's writes in one transaction, if `lease` still
    /// holds (else nothing is written: [`StoreError::LeaseLost`]).
    pub async fn write(&self, lease: &Lease, writes: &[Write]) -> Result<(), StoreError> {
        count("history_batch");
        with_pool!(&self.pool, p => {
            let mut tx = p.begin_write().await?;
            let held: Option<(i64,)> = sqlx::query_as(
                "SELECT epoch FROM history_leases WHERE engine = $1 AND holder = $2 AND epoch = $3",
            )
            .bind(&lease.engine)
            .bind(&lease.holder)
            .bind(lease.epoch)
            .fetch_optional(&mut *tx)
            .await?;
            if held.is_none() {
                return Err(StoreError::LeaseLost);
            }
            for w in writes {
                match w {
                    Write::Chunk(c) => {
                        let old: Option<(i64, i64)> = sqlx::query_as(
                            "SELECT CAST(length(data) AS BIGINT), raw_bytes FROM history_chunks \
                             WHERE container = $1 AND seq = $2",
                        )
                        .bind(c.container)
                        .bind(c.seq)
                        .fetch_optional(&mut *tx)
                        .await?;
                        sqlx::query(
                            "INSERT INTO history_chunks (container, seq, first_line, lines, min_ts, max_ts, \
                             first_cursor, last_cursor, raw_bytes, sealed, data) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                             ON CONFLICT (container, seq) DO UPDATE SET lines = $4, min_ts = $5, \
                             max_ts = $6, last_cursor = $8, raw_bytes = $9, sealed = $10, data = $11",
                        )
                        .bind(c.container)
                        .bind(c.seq)
                        .bind(c.first_line)
                        .bind(c.lines)
                        .bind(c.min_ts)
                        .bind(c.max_ts)
                        .bind(&c.first_cursor)
                        .bind(&c.last_cursor)
                        .bind(c.raw_bytes)
                        .bind(c.sealed)
                        .bind(&c.data)
                        .execute(&mut *tx)
                        .await?;
                        let (old_stored, old_raw) = old.unwrap_or((0, 0));
                        sqlx::query(
                            "UPDATE history_containers SET lines = $2, last_cursor = $3, \
                             raw_bytes = raw_bytes + $4, stored_bytes = stored_bytes + $5 WHERE id = $1",
                        )
                        .bind(c.container)
                        .bind(c.first_line + c.lines)
                        .bind(&c.last_cursor)
                        .bind(c.raw_bytes - old_raw)
                        .bind(c.data.len() as i64 - old_stored)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Write::Event(e) => {
                        sqlx::query(
                            "INSERT INTO history_events (container, at, kind, line, exit_code, count, detail) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(e.container)
                        .bind(e.at)
                        .bind(&e.kind)
                        .bind(e.line)
                        .bind(e.exit_code)
                        .bind(e.count)
                        .bind(&e.detail)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Write::Started { container, at } => {
                        sqlx::query(
                            "UPDATE history_containers SET started_at = $2, ended_at = NULL, exit_code = NULL WHERE id = $1",
                        )
                        .bind(container)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Write::Exited { container, at, exit_code } => {
                        sqlx::query("UPDATE history_containers SET ended_at = $2, exit_code = $3 WHERE id = $1")
                            .bind(container)
                            .bind(at)
                            .bind(exit_code)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Write::Removed { container, at } => {
                        sqlx::query(
                            "UPDATE history_containers SET removed_at = $2, ended_at = COALESCE(ended_at, $2) WHERE id = $1",
                        )
                        .bind(container)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Write::Renamed { container, name } => {
                        sqlx::query("UPDATE history_containers SET name = $2 WHERE id = $1")
                            .bind(container)
                            .bind(name)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The container's newest chunk, if it is still open (being grown).
    pub async fn open_chunk(&self, container: i64) -> Result<Option<ChunkRow>, StoreError> {
        count("chunk");
        Ok(with_pool!(&self.pool, p => sqlx::query_as::<_, ChunkRow>(
            "SELECT container, seq, first_line, lines, min_ts, max_ts, raw_bytes, sealed, data \
             FROM history_chunks WHERE container = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(container)
        .fetch_optional(p)
        .await)?
        .filter(|c| !c.sealed))
    }

    /// The chunks holding lines `from..to` of a container, in order.
    pub async fn chunks_for_lines(
        &self,
        container: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<ChunkRow>, StoreError> {
        count("chunks");
        Ok(with_pool!(&self.pool, p => sqlx::query_as::<_, ChunkRow>(
            "SELECT container, seq, first_line, lines, min_ts, max_ts, raw_bytes, sealed, data \
             FROM history_chunks WHERE container = $1 AND first_line < $3 AND first_line + lines > $2 \
             ORDER BY seq",
        )
        .bind(container)
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await)?)
    }

    /// The chunks whose stamps span `ts` (a cursor's line is in one of
    /// them), in order.
    pub async fn chunks_at_time(
        &self,
        container: i64,
        ts: i64,
    ) -> Result<Vec<ChunkRow>, StoreError> {
        count("chunks");
        Ok(with_pool!(&self.pool, p => sqlx::query_as::<_, ChunkRow>(
            "SELECT container, seq, first_line, lines, min_ts, max_ts, raw_bytes, sealed, data \
             FROM history_chunks WHERE container = $1 AND min_ts <= $2 AND max_ts >= $2 ORDER BY seq",
        )
        .bind(container)
        .bind(ts)
        .fetch_all(p)
        .await)?)
    }

    /// The first chunk with a line stamped `ts` or later.
    pub async fn first_chunk_from(
        &self,
        container: i64,
        ts: i64,
    ) -> Result<Option<ChunkSpan>, StoreError> {
        count("chunks");
        let sql = format!(
            "SELECT {CHUNK_SPAN} FROM history_chunks WHERE container = $1 AND max_ts >= $2 ORDER BY seq LIMIT 1"
        );
        Ok(
            with_pool!(&self.pool, p => sqlx::query_as::<_, ChunkSpan>(&sql)
            .bind(container)
            .bind(ts)
            .fetch_optional(p)
            .await)?,
        )
    }

    /// The chunks of these containers within a time range, in (container,
    /// seq) order, from `(container, seq)` on, `limit` at most.
    pub async fn chunks_in_range(
        &self,
        containers: &[i64],
        from_ts: i64,
        to_ts: i64,
        from: (i64, i64),
        limit: i64,
    ) -> Result<Vec<ChunkRow>, StoreError> {
        count("chunks");
        if containers.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (0..containers.len())
            .map(|i| format!("${}", i + 6))
            .collect();
        let sql = format!(
            "SELECT container, seq, first_line, lines, min_ts, max_ts, raw_bytes, sealed, data \
             FROM history_chunks WHERE max_ts >= $1 AND min_ts <= $2 \
             AND (container > $3 OR (container = $3 AND seq >= $4)) AND container IN ({}) \
             ORDER BY container, seq LIMIT $5",
            list.join(", ")
        );
        Ok(with_pool!(&self.pool, p => {
            let mut q = sqlx::query_as::<_, ChunkRow>(&sql)
                .bind(from_ts)
                .bind(to_ts)
                .bind(from.0)
                .bind(from.1)
                .bind(limit);
            for c in containers {
                q = q.bind(*c);
            }
            q.fetch_all(p).await
        })?)
    }

    /// One chunk with its data.
    pub async fn chunk(&self, container: i64, seq: i64) -> Result<Option<ChunkRow>, StoreError> {
        count("chunk");
        Ok(with_pool!(&self.pool, p => sqlx::query_as::<_, ChunkRow>(
            "SELECT container, seq, first_line, lines, min_ts, max_ts, raw_bytes, sealed, data \
             FROM history_chunks WHERE container = $1 AND seq = $2",
        )
        .bind(container)
        .bind(seq)
        .fetch_optional(p)
        .await)?)
    }

    /// A container's timeline (lifecycle and gaps) in order.
    pub async fn events(&self, container: i64) -> Result<Vec<EventRow>, StoreError> {
        count("events");
        Ok(with_pool!(&self.pool, p => sqlx::query_as::<_, EventRow>(
            "SELECT container, at, kind, line, exit_code, count, detail FROM history_events \
             WHERE container = $1 ORDER BY line, id",
        )
        .bind(container)
        .fetch_all(p)
        .await)?)
    }

    // Leases: one recorder per Docker engine.

    /// Takes the engine's lease for `holder` until `expires_ms`, if it is
    /// free, expired or already `holder`'s; the lease held, if taken.
    pub async fn take_lease(
        &self,
        engine: &str,
        holder: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<Option<Lease>, StoreError> {
        count("lease");
        let row: Option<(String, i64)> = with_pool!(&self.pool, p => {
            sqlx::query(
                "INSERT INTO history_leases (engine, holder, expires_ms, epoch) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (engine) DO UPDATE SET holder = $2, expires_ms = $3, \
                 epoch = CASE WHEN history_leases.holder = $2 THEN history_leases.epoch \
                 ELSE history_leases.epoch + 1 END \
                 WHERE history_leases.expires_ms < $4 OR history_leases.holder = $2",
            )
            .bind(engine)
            .bind(holder)
            .bind(expires_ms)
            .bind(now_ms)
            .execute(p)
            .await?;
            sqlx::query_as("SELECT holder, epoch FROM history_leases WHERE engine = $1")
                .bind(engine)
                .fetch_optional(p)
                .await
        })?;
        Ok(row.filter(|(h, _)| h == holder).map(|(_, epoch)| Lease {
            engine: engine.to_owned(),
            holder: holder.to_owned(),
            epoch,
        }))
    }

    /// Extends a lease still held; false if another node took it.
    pub async fn renew_lease(&self, lease: &Lease, expires_ms: i64) -> Result<bool, StoreError> {
        count("lease");
        let done = with_pool!(&self.pool, p => sqlx::query(
            "UPDATE history_leases SET expires_ms = $4 WHERE engine = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(&lease.engine)
        .bind(&lease.holder)
        .bind(lease.epoch)
        .bind(expires_ms)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Gives a lease up (a clean shutdown): another node may take it now.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        count("lease");
        with_pool!(&self.pool, p => sqlx::query(
            "UPDATE history_leases SET expires_ms = 0 WHERE engine = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(&lease.engine)
        .bind(&lease.holder)
        .bind(lease.epoch)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    // Retention.

    /// Every byte history holds (compressed, as stored).
    pub async fn total_stored(&self) -> Result<i64, StoreError> {
        count("retention");
        let (n,): (Option<i64>,) = with_pool!(&self.pool, p => sqlx::query_as(
            "SELECT CAST(SUM(stored_bytes) AS BIGINT) FROM history_containers",
        )
        .fetch_one(p)
        .await)?;
        Ok(n.unwrap_or(0))
    }

    /// Removes the containers that ended before `before` (and are not
    /// running again): their rows, chunks and timelines. The bytes freed.
    pub async fn prune_ended(&self, before: i64) -> Result<(u64, i64), StoreError> {
        count("retention");
        with_pool!(&self.pool, p => {
            let mut tx = p.begin_write().await?;
            let (bytes,): (Option<i64>,) = sqlx::query_as(
                "SELECT CAST(SUM(stored_bytes) AS BIGINT) FROM history_containers \
                 WHERE COALESCE(removed_at, ended_at) < $1 \
                 AND (removed_at IS NOT NULL OR ended_at >= COALESCE(started_at, 0))",
            )
            .bind(before)
            .fetch_one(&mut *tx)
            .await?;
            let n = sqlx::query(
                "DELETE FROM history_containers WHERE COALESCE(removed_at, ended_at) < $1 \
                 AND (removed_at IS NOT NULL OR ended_at >= COALESCE(started_at, 0))",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok((n, bytes.unwrap_or(0)))
        })
    }

    /// The oldest sealed chunks (by their newest line), `limit` of them,
    /// optionally of one container only.
    pub async fn oldest_sealed(
        &self,
        container: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(ChunkSpan, i64, i64)>, StoreError> {
        count("retention");
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            span: ChunkSpan,
            stored: i64,
            raw_bytes: i64,
        }
        let columns = format!("{CHUNK_SPAN}, CAST(length(data) AS BIGINT) AS stored, raw_bytes");
        let rows: Vec<Row> = match container {
            Some(c) => {
                let sql = format!(
                    "SELECT {columns} FROM history_chunks WHERE sealed = $2 AND container = $3 \
                     ORDER BY seq LIMIT $1"
                );
                with_pool!(&self.pool, p => sqlx::query_as::<_, Row>(&sql)
                    .bind(limit)
                    .bind(true)
                    .bind(c)
                    .fetch_all(p)
                    .await)?
            }
            None => {
                let sql = format!(
                    "SELECT {columns} FROM history_chunks WHERE sealed = $2 ORDER BY max_ts LIMIT $1"
                );
                with_pool!(&self.pool, p => sqlx::query_as::<_, Row>(&sql)
                    .bind(limit)
                    .bind(true)
                    .fetch_all(p)
                    .await)?
            }
        };
        Ok(rows
            .into_iter()
            .map(|r| (r.span, r.stored, r.raw_bytes))
            .collect())
    }

    /// Drops chunks (the oldest of their containers) and marks where each
    /// container's kept lines now begin, with a `pruned` gap in its
    /// timeline.
    pub async fn drop_chunks(
        &self,
        chunks: &[(ChunkSpan, i64, i64)],
        now: i64,
    ) -> Result<(), StoreError> {
        count("retention");
        with_pool!(&self.pool, p => {
            let mut tx = p.begin_write().await?;
            for (c, stored, raw) in chunks {
                let gone = sqlx::query("DELETE FROM history_chunks WHERE container = $1 AND seq = $2")
                    .bind(c.container)
                    .bind(c.seq)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if gone == 0 {
                    // Another node pruned it first.
                    continue;
                }
                sqlx::query(
                    "UPDATE history_containers SET \
                     first_line = CASE WHEN first_line > $2 THEN first_line ELSE $2 END, \
                     stored_bytes = stored_bytes - $3, raw_bytes = raw_bytes - $4 WHERE id = $1",
                )
                .bind(c.container)
                .bind(c.first_line + c.lines)
                .bind(stored)
                .bind(raw)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO history_events (container, at, kind, line, exit_code, count, detail) \
                     VALUES ($1, $2, 'pruned', $3, NULL, $4, NULL)",
                )
                .bind(c.container)
                .bind(now)
                .bind(c.first_line + c.lines)
                .bind(c.lines)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Containers holding more than `cap` bytes.
    pub async fn over_cap(&self, cap: i64) -> Result<Vec<i64>, StoreError> {
        count("retention");
        let rows: Vec<(i64,)> = with_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id FROM history_containers WHERE stored_bytes > $1",
        )
        .bind(cap)
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Forgets every container a user owned (`labtail user remove
    /// --purge-history`). The number of containers.
    pub async fn purge_owner(&self, owner: &str) -> Result<u64, StoreError> {
        count("retention");
        Ok(
            with_pool!(&self.pool, p => sqlx::query("DELETE FROM history_containers WHERE owner = $1")
            .bind(owner)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?,
        )
    }
}
