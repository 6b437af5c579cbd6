//! Lab history's storage, reads and searches, in process, on SQLite and on
//! Postgres, against the strongest simple design beside it: LogDeck's,
//! one uncompressed row per line in SQLite (searched with `LIKE`).
//!
//! - storage: real program output (this machine's apt, dpkg, dockerd and
//!   Postgres logs, a cargo build, an npm install, a Python traceback
//!   storm, router chatter) and the benchmark's own synthetic lines, each
//!   stored as labtail stores it (chunks, zstd, the database's own
//!   overhead counted: the file's size) and one row per line;
//! - reads: the newest 10 000 lines of a 1 000 000-line container;
//! - search: a class of 30 containers, 1 000 000 lines in all: a rare
//!   literal, a regex with a literal in it, a regex with none (stopped by
//!   the time budget).
//!
//! Figures are medians of 5 (server-side: the history crate's calls, as
//! the HTTP handlers make them).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use labtail_history::chunk;
use labtail_history::search::{Query, search};
use labtail_history::store::{ChunkWrite, Lease, NewContainer, Write};
use labtail_history::{Anchor, HistoryConfig, Pool, Reader, Store};
use labtail_logs::{Cursor, Line, Stream};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use crate::sio::BoxError;

/// One corpus of real (or synthetic) output.
pub struct Corpus {
    pub name: String,
    pub lines: Vec<String>,
}

/// The corpora this machine has, plus `extra` (`name=path` files), plus
/// generated ones.
pub fn corpora(extra: &[String], smoke: bool) -> Vec<Corpus> {
    let mut out = Vec::new();
    let mut file = |name: &str, path: &Path| {
        if let Ok(text) = std::fs::read_to_string(path) {
            let lines: Vec<String> = text
                .lines()
                .map(str::to_owned)
                .filter(|l| !l.is_empty())
                .collect();
            if lines.len() >= 100 {
                out.push(Corpus {
                    name: name.into(),
                    lines,
                });
            }
        }
    };
    for (name, path) in [
        ("apt term.log", "/var/log/apt/term.log"),
        ("dpkg.log", "/var/log/dpkg.log"),
        ("dockerd", "/var/log/labtail-dockerd.log"),
        ("postgres", "/var/lib/labtail-test/postgres/server.log"),
    ] {
        file(name, Path::new(path));
    }
    for e in extra {
        if let Some((name, path)) = e.split_once('=') {
            file(name, Path::new(path));
        }
    }
    out.push(traceback_storm(if smoke { 50 } else { 2_000 }));
    out.push(ospf_chatter(if smoke { 500 } else { 40_000 }));
    out.push(synthetic(if smoke { 1_000 } else { 100_000 }));
    out
}

/// A Python program failing over and over: what a student's crashing
/// script prints (real tracebacks from this machine's python3).
fn traceback_storm(n: usize) -> Corpus {
    let script = format!(
        r#"
import sys, json, random
random.seed(1)
def parse(row): return json.loads(row)["value"] / row.count(",")
def handle(i):
    rows = ['{{"value": %d}}' % i, '{{"value": }}', '{{}}']
    return parse(random.choice(rows))
for i in range({n}):
    try:
        handle(i)
    except Exception:
        import traceback; traceback.print_exc(file=sys.stdout)
    print("INFO worker %d processed request id=%08x in %d ms" % (i % 7, random.getrandbits(32), random.randint(1, 900)))
"#
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    Corpus {
        name: "python traceback storm".into(),
        lines: out.lines().map(str::to_owned).collect(),
    }
}

/// OSPF adjacency and LSA chatter in FRR's log format (no router runs
/// here: generated, with the variety of ids, sequence numbers and states
/// a lab's routers print).
fn ospf_chatter(n: usize) -> Corpus {
    let mut lines = Vec::with_capacity(n);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let states = [
        "Down", "Init", "2-Way", "ExStart", "Exchange", "Loading", "Full",
    ];
    let kinds = [
        "router-LSA",
        "network-LSA",
        "summary-LSA",
        "AS-external-LSA",
    ];
    for i in 0..n {
        let r = rnd();
        let id = format!("10.{}.{}.{}", r % 8, (r >> 8) % 256, (r >> 16) % 256);
        let t = format!(
            "2026/11/22 10:{:02}:{:02}.{:06}",
            (i / 600) % 60,
            (i / 10) % 60,
            r % 1_000_000
        );
        let line = match r % 5 {
            0 => format!(
                "{t} OSPF: [{:05X}-{:05X}] AdjChg: Nbr {id}(default) on eth{}: {} -> {} (HelloReceived)",
                r % 0xfffff,
                (r >> 20) % 0xfffff,
                r % 4,
                states[(r as usize >> 3) % 7],
                states[(r as usize >> 6) % 7]
            ),
            1 => format!(
                "{t} OSPF: [{:05X}-{:05X}] LSA[Type{}:{id}]: Install {} seq 0x{:08x} age {}",
                r % 0xfffff,
                (r >> 20) % 0xfffff,
                r % 5 + 1,
                kinds[(r as usize >> 4) % 4],
                0x8000_0000u64 + (r >> 32) % 4096,
                r % 3600
            ),
            2 => format!(
                "{t} OSPF: [{:05X}-{:05X}] Packet[DD]: Neighbor {id} Negotiation done (Slave). seqnum {}",
                r % 0xfffff,
                (r >> 20) % 0xfffff,
                r % 100_000
            ),
            3 => format!(
                "{t} OSPF: [{:05X}-{:05X}] ospf_spf_calculate: Start ({} routers, {} networks)",
                r % 0xfffff,
                (r >> 20) % 0xfffff,
                r % 40,
                r % 60
            ),
            _ => format!(
                "{t} OSPF: [{:05X}-{:05X}] Link State Update received from [{id}] via [eth{}:10.0.{}.1]",
                r % 0xfffff,
                (r >> 20) % 0xfffff,
                r % 4,
                r % 255
            ),
        };
        lines.push(line);
    }
    Corpus {
        name: "OSPF chatter (FRR format, generated)".into(),
        lines,
    }
}

/// The benchmark's own producer lines (`seq=… ts=…`, padded): compress far
/// better than anything a student writes; reported for comparison only.
fn synthetic(n: usize) -> Corpus {
    Corpus {
        name: "synthetic seq=… ts=… (the benchmark's lines)".into(),
        lines: (0..n)
            .map(|i| {
                format!(
                    "seq={i} ts={} {}",
                    1_700_000_000_000_000_000u64 + i as u64 * 1_000_000,
                    "x".repeat(40)
                )
            })
            .collect(),
    }
}

/// Lines as Docker would stamp them: a few microseconds apart, a tenth on
/// stderr.
fn stamped(texts: &[String], start: i64) -> Vec<Line> {
    let mut ts = start;
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            ts += 3_000 + (i as i64 * 7919) % 40_000;
            let stream = if i % 10 == 9 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            Line {
                cursor: Cursor::new(ts, stream, 0),
                stream,
                text: t.clone(),
                truncated: 0,
            }
        })
        .collect()
}

async fn sqlite_store(path: &Path) -> Result<Store, BoxError> {
    let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(opts)
        .await?;
    sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
    Ok(Store::new(Pool::Sqlite(pool)))
}

async fn postgres_store(admin: &str, name: &str) -> Result<Store, BoxError> {
    let pool = sqlx::PgPool::connect(admin).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&pool)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    let pool = sqlx::PgPool::connect(&format!("{base}/{name}")).await?;
    sqlx::migrate!("../migrations/postgres").run(&pool).await?;
    Ok(Store::new(Pool::Postgres(pool)))
}

async fn drop_postgres(admin: &str, name: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await;
    }
}

/// Stores lines as the recorder does: sealed chunks of `chunk_bytes`.
async fn store_lines(
    store: &Store,
    lease: &Lease,
    container: i64,
    lines: &[Line],
    cfg: &HistoryConfig,
) -> Result<(), BoxError> {
    let mut writes = Vec::new();
    let (mut seq, mut first) = (0i64, 0usize);
    while first < lines.len() {
        let mut raw = 0;
        let mut end = first;
        while end < lines.len() && raw < cfg.chunk_bytes {
            raw += lines[end].text.len() + 1;
            end += 1;
        }
        let part = &lines[first..end];
        let encoded = chunk::encode(part);
        writes.push(Write::Chunk(ChunkWrite {
            container,
            seq,
            first_line: first as i64,
            lines: part.len() as i64,
            min_ts: part.iter().map(|l| l.cursor.ts_nanos).min().unwrap_or(0),
            max_ts: part.iter().map(|l| l.cursor.ts_nanos).max().unwrap_or(0),
            first_cursor: part[0].cursor.to_string(),
            last_cursor: part[part.len() - 1].cursor.to_string(),
            raw_bytes: encoded.len() as i64,
            sealed: true,
            data: chunk::compress(&encoded, cfg.level),
        }));
        if writes.len() >= 64 {
            store.write(lease, &std::mem::take(&mut writes)).await?;
        }
        seq += 1;
        first = end;
    }
    store.write(lease, &writes).await?;
    Ok(())
}

fn container(name: &str, owner: &str, n: usize) -> NewContainer {
    NewContainer {
        host: "local".into(),
        docker_id: format!("{:064x}", 0xbe00_0000u64 + n as u64),
        name: name.into(),
        owner: owner.into(),
        course: None,
        lab: None,
        image: "bench".into(),
        tty: false,
        created_at: 0,
    }
}

/// LogDeck's design for the same lines: one uncompressed row per line.
async fn one_row_per_line(path: &Path, lines: &[Line]) -> Result<sqlx::SqlitePool, BoxError> {
    let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await?;
    sqlx::query(
        "CREATE TABLE logs (id INTEGER PRIMARY KEY, container TEXT NOT NULL, ts INTEGER NOT NULL, \
         stream TEXT NOT NULL, message TEXT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("CREATE INDEX logs_container_ts ON logs (container, ts)")
        .execute(&pool)
        .await?;
    for part in lines.chunks(5_000) {
        let mut tx = pool.begin().await?;
        for (i, l) in part.iter().enumerate() {
            sqlx::query(
                "INSERT INTO logs (container, ts, stream, message) VALUES ($1, $2, $3, $4)",
            )
            .bind(format!("c{}", i % 30))
            .bind(l.cursor.ts_nanos)
            .bind(l.stream.as_str())
            .bind(&l.text)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    Ok(pool)
}

/// Bytes a SQLite database takes on disk (its file and WAL, checkpointed).
async fn sqlite_size(pool: &sqlx::SqlitePool, path: &Path) -> Result<u64, BoxError> {
    // VACUUM writes through the WAL: checkpoint after it.
    sqlx::query("VACUUM").execute(pool).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await?;
    let mut n = std::fs::metadata(path)?.len();
    if let Ok(m) = std::fs::metadata(format!("{}-wal", path.display())) {
        n += m.len();
    }
    Ok(n)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn time<F, Fut, T>(n: usize, mut f: F) -> Result<Duration, BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BoxError>>,
{
    let mut v = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        f().await?;
        v.push(t.elapsed());
    }
    Ok(median(v))
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Runs the history benchmark; returns its report section (markdown).
pub async fn run(work: &Path, extra: &[String], smoke: bool) -> Result<String, BoxError> {
    let cfg = HistoryConfig::default();
    let mut md = String::new();
    md.push_str("## Lab history\n\n");
    md.push_str(&format!(
        "In process, the history crate's own calls (what the HTTP handlers make), on this \
         machine. Chunks of {} KiB of text at zstd level {} (`--history-chunk-bytes`, \
         `--history-level`). The baseline is LogDeck's design: one uncompressed row per line \
         in SQLite, searched with `LIKE`.\n\n",
        cfg.chunk_bytes / 1024,
        cfg.level
    ));

    // Storage, per corpus, on SQLite (the database file's size: chunks,
    // indexes and pages all counted).
    md.push_str("### Storage\n\n| output | lines | text | labtail's chunks | labtail (SQLite file) | % of text | one row per line (SQLite file) | % of text |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let corpora = corpora(extra, smoke);
    for (k, c) in corpora.iter().enumerate() {
        let lines = stamped(&c.lines, 1_700_000_000_000_000_000);
        let text: u64 = lines.iter().map(|l| l.text.len() as u64 + 1).sum();
        let path = work.join(format!("storage-{k}.db"));
        let store = sqlite_store(&path).await?;
        let lease = store
            .take_lease("bench", "bench", 0, i64::MAX)
            .await?
            .ok_or("lease")?;
        let row = store.ensure_container(&container("c", "ann", k)).await?;
        store_lines(&store, &lease, row.id, &lines, &cfg).await?;
        let Pool::Sqlite(pool) = store.pool() else {
            return Err("sqlite".into());
        };
        // The empty schema's pages do not count against the lines.
        let empty = {
            let p = work.join(format!("empty-{k}.db"));
            let s = sqlite_store(&p).await?;
            let Pool::Sqlite(ep) = s.pool() else {
                return Err("sqlite".into());
            };
            sqlite_size(ep, &p).await?
        };
        let ours = sqlite_size(pool, &path).await?.saturating_sub(empty);
        let chunks = store.container(row.id).await?.map_or(0, |r| r.stored_bytes) as u64;
        let base_path = work.join(format!("rows-{k}.db"));
        let base = one_row_per_line(&base_path, &lines).await?;
        let theirs = sqlite_size(&base, &base_path).await?;
        let pct = |n: u64| format!("{:.1} %", n as f64 * 100.0 / text as f64);
        md.push_str(&format!(
            "| {} | {} | {:.1} MB | {} | {:.2} MB | {} | {:.1} MB | {} |\n",
            c.name,
            lines.len(),
            text as f64 / 1e6,
            pct(chunks),
            ours as f64 / 1e6,
            pct(ours),
            theirs as f64 / 1e6,
            pct(theirs)
        ));
        eprintln!(
            "  history storage {:<45} {:>8} lines  chunks {}  labtail {}  one row per line {}",
            c.name,
            lines.len(),
            pct(chunks),
            pct(ours),
            pct(theirs)
        );
    }

    // Reads and searches over 1 000 000 lines of real output (the corpora
    // above, in turn), on SQLite and on Postgres.
    let total = if smoke { 20_000 } else { 1_000_000 };
    let mix: Vec<String> = {
        let real: Vec<&Corpus> = corpora
            .iter()
            .filter(|c| !c.name.starts_with("synthetic"))
            .collect();
        let mut v = Vec::with_capacity(total);
        let mut k = 0usize;
        while v.len() < total {
            let c = real[k % real.len()];
            v.extend(c.lines.iter().take(total - v.len()).cloned());
            k += 1;
        }
        // A rare line to find: in 30 places.
        for i in 0..30 {
            let at = (i * 7 + 3) * total / 211;
            v[at] = format!("listen tcp 0.0.0.0:8080: bind: address already in use (student {i})");
        }
        v
    };
    md.push_str(&format!(
        "\n### Reads and searches\n\n{} lines of the real output above (in turn; 30 lines \
         `bind: address already in use` among them): one container holding all of them, and \
         a class of 30 containers sharing them. Medians of 5, milliseconds.\n\n\
         | query | labtail SQLite | labtail Postgres | one row per line (SQLite) |\n|---|---:|---:|---:|\n",
        total
    ));
    let lines = stamped(&mix, 1_700_000_000_000_000_000);
    let mut results: Vec<Vec<String>> = vec![Vec::new(); 5];
    let admin = std::env::var("LABTAIL_TEST_POSTGRES_URL").ok();
    let pg_name = format!("labtail_bench_{}", std::process::id());
    for backend in ["sqlite", "postgres"] {
        let store = match backend {
            "sqlite" => sqlite_store(&work.join("reads.db")).await?,
            _ => match &admin {
                Some(a) => postgres_store(a, &pg_name).await?,
                None => {
                    for r in &mut results {
                        r.push("(no Postgres)".into());
                    }
                    continue;
                }
            },
        };
        let lease = store
            .take_lease("bench", "bench", 0, i64::MAX)
            .await?
            .ok_or("lease")?;
        let one = store
            .ensure_container(&container("all", "ann", 100))
            .await?;
        store_lines(&store, &lease, one.id, &lines, &cfg).await?;
        let mut class = Vec::new();
        let per = lines.len() / 30;
        for i in 0..30 {
            let row = store
                .ensure_container(&container(&format!("s{i}"), &format!("s{i}"), 200 + i))
                .await?;
            let part: Vec<Line> = lines[i * per..(i + 1) * per].to_vec();
            store_lines(&store, &lease, row.id, &part, &cfg).await?;
            class.push(row.id);
        }
        let one = store.container(one.id).await?.ok_or("row")?;
        let reader = Reader::new(store.clone(), &cfg);
        let tail = time(5, || async {
            Ok::<_, BoxError>(reader.page(&one, Anchor::Tail, 10_000).await?)
        })
        .await?;
        let q = |pattern: &str, regex: bool| Query {
            pattern: pattern.into(),
            regex,
            ignore_case: false,
            containers: class.clone(),
            from_ts: i64::MIN,
            to_ts: i64::MAX,
            limit: 1000,
            after: None,
        };
        let lit = q("address already in use", false);
        let found = search(&store, &cfg, &lit).await?;
        if found.hits.len() != 30 {
            eprintln!("  history search found {} of 30", found.hits.len());
        }
        let literal = time(5, || async {
            Ok::<_, BoxError>(search(&store, &cfg, &lit).await?)
        })
        .await?;
        let re = q(r"bind: address already in use \(student \d+\)", true);
        let regex = time(5, || async {
            Ok::<_, BoxError>(search(&store, &cfg, &re).await?)
        })
        .await?;
        let none = q(r"[a-z]{25}[0-9]{3}[A-Z]", true);
        let timed_out = search(&store, &cfg, &none).await?.timed_out;
        let no_literal = time(3, || async {
            Ok::<_, BoxError>(search(&store, &cfg, &none).await?)
        })
        .await?;
        results[0].push(ms(tail));
        results[1].push(ms(literal));
        results[2].push(ms(regex));
        results[3].push(format!(
            "{}{}",
            ms(no_literal),
            if timed_out { " (budget)" } else { "" }
        ));
        results[4].push(format!("{}", found.scanned));
        eprintln!(
            "  history reads {backend}: newest 10 000 {} ms, literal {} ms, regex {} ms, no literal {} ms",
            ms(tail),
            ms(literal),
            ms(regex),
            ms(no_literal)
        );
        if backend == "postgres"
            && let Some(a) = &admin
        {
            drop_postgres(a, &pg_name).await;
        }
    }
    // The baseline: one row per line, the same 1 000 000 lines.
    let base_path = work.join("rows-reads.db");
    let base = one_row_per_line(&base_path, &lines).await?;
    let tail = time(5, || async {
        Ok::<_, BoxError>(
            sqlx::query("SELECT ts, stream, message FROM logs WHERE container = 'c0' ORDER BY ts DESC LIMIT 10000")
                .fetch_all(&base)
                .await?,
        )
    })
    .await?;
    let like = time(5, || async {
        Ok::<_, BoxError>(
            sqlx::query(
                "SELECT id FROM logs WHERE message LIKE '%address already in use%' LIMIT 1000",
            )
            .fetch_all(&base)
            .await?,
        )
    })
    .await?;
    results[0].push(format!("{} (one container's newest)", ms(tail)));
    results[1].push(format!("{} (`LIKE`)", ms(like)));
    results[2].push("no regex in SQLite".into());
    results[3].push("no regex in SQLite".into());
    results[4].push(String::new());
    for (label, r) in [
        (
            "newest 10 000 lines of the 1 000 000-line container",
            &results[0],
        ),
        (
            "literal `address already in use` across the class",
            &results[1],
        ),
        (
            "regex `bind: address already in use \\(student \\d+\\)`",
            &results[2],
        ),
        (
            "regex with no literal `[a-z]{25}[0-9]{3}[A-Z]` (budget 1 s)",
            &results[3],
        ),
    ] {
        md.push_str(&format!("| {label} | {} |\n", r.join(" | ")));
    }
    md.push('\n');
    Ok(md)
}

/// Puts `section` into the report at `out` between its history markers
/// (replacing what was there), or at its end.
pub fn splice(out: &PathBuf, name: &str, section: &str) -> Result<(), BoxError> {
    let begin = format!("<!-- {name}:begin -->");
    let end = format!("<!-- {name}:end -->");
    let (begin, end) = (begin.as_str(), end.as_str());
    let doc = std::fs::read_to_string(out).unwrap_or_default();
    let block = format!("{begin}\n{section}{end}\n");
    let new = match (doc.find(begin), doc.find(end)) {
        (Some(a), Some(b)) if b > a => format!(
            "{}{block}{}",
            &doc[..a],
            &doc[b + end.len()..].trim_start_matches('\n')
        ),
        _ => format!("{}\n{block}", doc.trim_end()),
    };
    std::fs::write(out, new)?;
    Ok(())
}
