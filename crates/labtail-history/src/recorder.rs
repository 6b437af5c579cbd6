//! The recorder: every line of every lab container of one Docker engine,
//! into history, whether anyone watches or not.
//!
//! - **One recorder per engine**, whatever the number of nodes: a node
//!   records an engine while it holds the engine's lease in the database
//!   (renewed every third of its length); another node takes over when it
//!   stops renewing. Every write carries the lease's epoch, so a node that
//!   lost the lease without noticing cannot write any more.
//! - **From the source, exactly**: a container is caught up from Docker's
//!   log after the last line history holds (the whole log for a new one,
//!   streamed in bounded memory), then followed through the engine's hub for
//!   that container (the one upstream every viewer shares), joined exactly
//!   after that line. A labtail restart, a `kill -9`, a new recorder on
//!   another node: each resumes from the database's last line, so no line
//!   is lost or stored twice.
//! - **Never slows live streaming**: the recorder is one more subscriber,
//!   with its own bound; writes go to one writer task that commits a
//!   transaction per batch. When the database is slow or away the writer
//!   waits, the recorder's queue fills up to its bound and then drops its
//!   oldest lines, which are read back from Docker once the database is
//!   back (or, if Docker no longer has them, recorded as a gap with its
//!   count). Memory stays bounded; nothing else waits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use labtail_logs::{
    After, ContainerInfo, Cursor, Delivery, DockerError, DockerId, Line, LogEngine, RunStatus,
    Scope, StartAt, SubscribeError, WatchEvent,
};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::chunk;
use crate::config::HistoryConfig;
use crate::metrics;
use crate::observer::{Lifecycle, Observer};
use crate::store::{
    ChunkWrite, ContainerRow, EventRow, Lease, NewContainer, Store, StoreError, Write,
};

/// Records one Docker engine while alive (the task stops when dropped).
#[derive(Debug)]
pub struct Recorder {
    task: JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a recorder needs to know of its engine.
#[derive(Debug, Clone)]
pub struct EngineToRecord {
    pub engine: LogEngine,
    /// Told of every line and step recorded (the server's attention).
    pub observer: Option<Arc<dyn Observer>>,
    /// The engine's name in labtail (`local`, or a `--docker-host` name).
    pub name: String,
    /// Names are shown as `name/container` (labtail reads several engines).
    pub prefix_names: bool,
}

impl Recorder {
    /// Starts recording. `node` names this node in the lease table.
    pub fn spawn(target: EngineToRecord, store: Store, cfg: HistoryConfig, node: String) -> Self {
        let task = tokio::spawn(supervise(target, store, cfg, node));
        Recorder { task }
    }
}

fn now_ms() -> i64 {
    now_ns() / 1_000_000
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Takes the engine's lease and records while it holds; forever.
async fn supervise(target: EngineToRecord, store: Store, cfg: HistoryConfig, node: String) {
    let mut backoff = Duration::from_millis(100);
    let engine_id = loop {
        match target.engine.docker().engine_id().await {
            Ok(id) => break id,
            Err(e) => {
                tracing::debug!(engine = %target.name, error = %e, "history: engine ID not known yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(cfg.lease);
            }
        }
    };
    let lease_ms = i64::try_from(cfg.lease.as_millis())
        .unwrap_or(10_000)
        .max(1);
    let gauge = ::metrics::gauge!(metrics::LEASE_HELD, "engine" => target.name.clone());
    loop {
        let now = now_ms();
        let lease = match store
            .take_lease(&engine_id, &node, now, now + lease_ms)
            .await
        {
            Ok(Some(l)) => l,
            Ok(None) => {
                tokio::time::sleep(cfg.lease / 3).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(engine = %target.name, error = %e, "history: cannot take the lease");
                tokio::time::sleep(cfg.lease / 3).await;
                continue;
            }
        };
        tracing::info!(engine = %target.name, epoch = lease.epoch, "history: recording this engine");
        gauge.set(1.0);
        if let Some(o) = &target.observer {
            o.recording(&target.name, true);
        }
        tokio::select! {
            () = renew(&store, &lease, &cfg) => {}
            () = record(&target, &store, &cfg, &lease) => {}
        }
        if let Some(o) = &target.observer {
            o.recording(&target.name, false);
        }
        gauge.set(0.0);
        tracing::warn!(engine = %target.name, "history: no longer recording this engine");
    }
}

/// Renews the lease until it is lost.
async fn renew(store: &Store, lease: &Lease, cfg: &HistoryConfig) {
    let lease_ms = i64::try_from(cfg.lease.as_millis())
        .unwrap_or(10_000)
        .max(1);
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(cfg.lease / 3).await;
        match store.renew_lease(lease, now_ms() + lease_ms).await {
            Ok(true) => last_ok = tokio::time::Instant::now(),
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "history: cannot renew the lease");
                // Past its length, another node may hold it: stop.
                if last_ok.elapsed() >= cfg.lease {
                    return;
                }
            }
        }
    }
}

/// A batch of writes for the writer, and who waits for it.
type Batch = Vec<Write>;

/// Writes batches in order, a transaction each, retrying while the
/// database is away; returns when the lease is lost.
async fn writer(store: Store, lease: Lease, mut rx: mpsc::Receiver<Batch>) {
    let mut pending: Vec<Write> = Vec::new();
    loop {
        match rx.recv().await {
            Some(b) => pending.extend(b),
            None => return,
        }
        // Everything queued meanwhile goes in the same transaction.
        while pending.len() < 256 {
            match rx.try_recv() {
                Ok(b) => pending.extend(b),
                Err(_) => break,
            }
        }
        let mut delay = Duration::from_millis(100);
        loop {
            match store.write(&lease, &pending).await {
                Ok(()) => {
                    let bytes: usize = pending
                        .iter()
                        .map(|w| match w {
                            Write::Chunk(c) => c.data.len(),
                            _ => 0,
                        })
                        .sum();
                    ::metrics::counter!(metrics::BYTES_WRITTEN).increment(bytes as u64);
                    pending.clear();
                    break;
                }
                Err(StoreError::LeaseLost) => return,
                Err(e) => {
                    ::metrics::counter!(metrics::WRITE_FAILURES).increment(1);
                    tracing::warn!(error = %e, "history: write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// How often the containers are listed again, besides Docker's events.
const RESYNC: Duration = Duration::from_secs(30);

/// Records every lab container of the engine while the lease holds.
async fn record(target: &EngineToRecord, store: &Store, cfg: &HistoryConfig, lease: &Lease) {
    let (wtx, wrx) = mpsc::channel::<Batch>(64);
    let mut writer = tokio::spawn(writer(store.clone(), lease.clone(), wrx));
    let mut events = target.engine.container_events();
    let mut tasks: HashMap<DockerId, (i64, JoinHandle<()>)> = HashMap::new();
    let mut resync = tokio::time::interval(RESYNC);
    let gauge = ::metrics::gauge!(metrics::CONTAINERS_RECORDING, "engine" => target.name.clone());
    let mut sync_now = true;
    // Containers that started since the last sync: one that ran and was
    // removed before the listing is recorded from its event (its log file
    // held open since its start, `labtail_logs`' pins).
    let mut started: Vec<labtail_logs::ContainerEvent> = Vec::new();
    let deaths = Deaths::default();
    // Deaths are noted by a task of their own: this loop may be busy in a
    // sync when a container dies and is removed at once.
    let _noting = AbortOnDrop(tokio::spawn(note_deaths(
        target.engine.container_events(),
        deaths.clone(),
        target.observer.clone(),
        target.name.clone(),
    )));
    loop {
        if sync_now {
            sync_now = false;
            let starts = std::mem::take(&mut started);
            sync(target, store, cfg, &wtx, &mut tasks, &starts, &deaths).await;
            gauge.set(tasks.len() as f64);
        }
        tokio::select! {
            _ = &mut writer => break,
            _ = resync.tick() => sync_now = true,
            ev = events.recv() => match ev {
                Ok(WatchEvent::Container(e)) => match e.action {
                    labtail_logs::Action::Create | labtail_logs::Action::Start
                        if !tasks.contains_key(&e.id) =>
                    {
                        if e.action == labtail_logs::Action::Start && started.len() < MAX_STARTS {
                            started.push(e);
                        }
                        sync_now = true;
                    }
                    _ => {}
                },
                Ok(WatchEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    sync_now = true;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    for (_, (_, t)) in tasks {
        t.abort();
    }
    writer.abort();
    gauge.set(0.0);
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn note_deaths(
    mut events: broadcast::Receiver<WatchEvent>,
    deaths: Deaths,
    observer: Option<Arc<dyn Observer>>,
    engine: String,
) {
    loop {
        match events.recv().await {
            Ok(WatchEvent::Container(e)) => {
                if matches!(
                    e.action,
                    labtail_logs::Action::Die | labtail_logs::Action::Destroy
                ) {
                    deaths.note(&e);
                }
                if let Some(o) = &observer {
                    o.docker_event(&engine, &e);
                }
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// How long a removed container's recorder waits for its `die` event.
const DEATH_WAIT: Duration = Duration::from_secs(10);

/// Lines read ahead of the subscription at most (a run's last lines).
const MAX_AHEAD: usize = 100_000;

/// Starts remembered between two syncs, at most.
const MAX_STARTS: usize = 10_000;

/// How the last runs of containers ended, as their `die` events said: a
/// container removed before its recorder could ask Docker still gets its
/// exit code. Bounded; the oldest go first.
#[derive(Debug, Clone, Default)]
struct Deaths(Arc<std::sync::Mutex<std::collections::VecDeque<Death>>>);

/// A container, when (Docker's nanoseconds), its exit code, and whether
/// it was its death (else its removal).
type Death = (DockerId, i64, Option<i64>, bool);

impl Deaths {
    const MAX: usize = 4096;

    /// Notes a `die` (or a `destroy`: the end of what can be heard).
    fn note(&self, e: &labtail_logs::ContainerEvent) {
        let mut d = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if d.len() >= Self::MAX {
            d.pop_front();
        }
        let died = e.action == labtail_logs::Action::Die;
        d.push_back((e.id.clone(), e.time_nanos, e.exit_code, died));
    }

    /// The last `die` of `id` after `after` and at or before `until`.
    fn between(&self, id: &DockerId, after: i64, until: i64) -> Option<(i64, Option<i64>)> {
        let d = self.0.lock().unwrap_or_else(|p| p.into_inner());
        d.iter()
            .rev()
            .find(|(i, t, _, died)| *died && i == id && *t > after && *t <= until)
            .map(|x| (x.1, x.2))
    }

    /// The last death of `id` (when, and its exit code): `Some(Some(..))`;
    /// `Some(None)` once its removal was heard with no death before it
    /// (it never ran); `None` while neither was heard.
    fn of(&self, id: &DockerId) -> Option<Option<(i64, Option<i64>)>> {
        let d = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut mine = d.iter().rev().filter(|(i, ..)| i == id);
        let last = mine.next()?;
        if last.3 {
            return Some(Some((last.1, last.2)));
        }
        // The destroy: a death heard before it, if any.
        Some(mine.find(|x| x.3).map(|x| (x.1, x.2)))
    }
}

fn shown_name(target: &EngineToRecord, name: &str) -> String {
    let name = name.trim_start_matches('/');
    if target.prefix_names {
        format!("{}/{name}", target.name)
    } else {
        name.to_owned()
    }
}

/// Starts recording the engine's lab containers not recorded yet.
async fn sync(
    target: &EngineToRecord,
    store: &Store,
    cfg: &HistoryConfig,
    wtx: &mpsc::Sender<Batch>,
    tasks: &mut HashMap<DockerId, (i64, JoinHandle<()>)>,
    starts: &[labtail_logs::ContainerEvent],
    deaths: &Deaths,
) {
    tasks.retain(|_, (_, t)| !t.is_finished());
    let list = match target.engine.docker().list(&Scope::AllLabContainers).await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(engine = %target.name, error = %e, "history: cannot list containers");
            return;
        }
    };
    // Containers removed while no one recorded them (labtail was down):
    // their end is told, and, if they were running, a gap of unknown size
    // (they may have written more than history holds).
    let listed: std::collections::HashSet<&str> = list.iter().map(|c| c.id.as_str()).collect();
    if let Ok(rows) = store.unfinished(&target.name).await {
        let now = now_ns();
        for row in rows
            .iter()
            .filter(|r| !listed.contains(r.docker_id.as_str()))
        {
            let event = |kind: &str| EventRow {
                container: row.id,
                at: now,
                kind: kind.to_owned(),
                line: row.lines,
                exit_code: None,
                count: None,
                detail: None,
            };
            let mut writes = Vec::new();
            if row.ended_at.is_none() {
                writes.push(Write::Event(event("gap")));
            }
            writes.push(Write::Removed {
                container: row.id,
                at: now,
            });
            writes.push(Write::Event(event("removed")));
            let _ = wtx.send(writes).await;
        }
    }
    // Started since the last sync and already gone from the listing.
    let gone = starts
        .iter()
        .filter(|e| !listed.contains(e.id.as_str()) && e.owner.is_some())
        .map(|e| ContainerInfo {
            id: e.id.clone(),
            name: e.name.clone().unwrap_or_else(|| e.id.short().to_owned()),
            owner: e.owner.clone(),
            state: "removed".into(),
            status: String::new(),
            image: e.image.clone().unwrap_or_default(),
            created: e.time_nanos / 1_000_000_000,
            course: e.course.clone(),
            lab: e.lab.clone(),
            host: None,
            host_down: false,
        })
        .collect::<Vec<_>>();
    for mut info in list.into_iter().chain(gone) {
        if tasks.contains_key(&info.id) {
            continue;
        }
        // As the fleet shows it: the hub this recorder opens is every
        // viewer's too, and they know it by this name.
        if target.prefix_names {
            info.name = shown_name(target, &info.name);
            info.host = Some(target.name.clone());
        }
        let Some(owner) = info.owner.clone() else {
            continue;
        };
        let new = NewContainer {
            host: target.name.clone(),
            docker_id: info.id.as_str().to_owned(),
            name: info.name.clone(),
            owner,
            course: info.course.clone(),
            lab: info.lab.clone(),
            image: info.image.clone(),
            tty: false,
            created_at: info.created.saturating_mul(1_000_000_000),
        };
        let row = match store.ensure_container(&new).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(container = %info.name, error = %e, "history: cannot register container");
                continue;
            }
        };
        if row.removed_at.is_some() {
            // Recorded to its end already (a stale listing).
            continue;
        }
        let common = Common {
            engine: target.engine.clone(),
            store: store.clone(),
            cfg: cfg.clone(),
            wtx: wtx.clone(),
            deaths: deaths.clone(),
            observer: target.observer.clone(),
            engine_name: target.name.clone(),
        };
        let rec = ContainerRecorder::new(common, info.clone(), row.clone());
        tracing::debug!(container = %info.name, state = %info.state, "history: recording");
        tasks.insert(info.id.clone(), (row.id, tokio::spawn(rec.run())));
    }
}

/// The chunk being filled, as last written and since.
#[derive(Debug)]
struct OpenChunk {
    seq: i64,
    first_line: i64,
    lines: Vec<Line>,
    raw: usize,
    /// Lines of it the database holds.
    written: usize,
}

impl OpenChunk {
    fn new(seq: i64, first_line: i64) -> Self {
        OpenChunk {
            seq,
            first_line,
            lines: Vec::new(),
            raw: 0,
            written: 0,
        }
    }

    fn push(&mut self, l: Line) {
        self.raw += l.text.len() + 1;
        self.lines.push(l);
    }

    fn dirty(&self) -> bool {
        self.lines.len() > self.written
    }

    fn write(&self, container: i64, sealed: bool, level: i32) -> Option<ChunkWrite> {
        let first = self.lines.first()?;
        let last = self.lines.last()?;
        let raw = chunk::encode(&self.lines);
        let (min_ts, max_ts) = self.lines.iter().fold((i64::MAX, i64::MIN), |(lo, hi), l| {
            (lo.min(l.cursor.ts_nanos), hi.max(l.cursor.ts_nanos))
        });
        Some(ChunkWrite {
            container,
            seq: self.seq,
            first_line: self.first_line,
            lines: self.lines.len() as i64,
            min_ts,
            max_ts,
            first_cursor: first.cursor.to_string(),
            last_cursor: last.cursor.to_string(),
            raw_bytes: raw.len() as i64,
            sealed,
            data: chunk::compress(&raw, level),
        })
    }
}

/// What the recorder last recorded of a container's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Unknown,
    Running,
    Exited,
}

/// What reading a run's last lines ahead of the subscription came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ahead {
    Read,
    Gone,
    Failed,
}

/// Why a container's recording stopped.
enum Stop {
    /// The container is gone; its history is complete.
    Removed,
    /// Read again from the last line history holds (after a gap in the
    /// subscription, or an error).
    Again,
    /// The writer is gone (the lease was lost).
    WriterGone,
}

/// Records one container.
struct ContainerRecorder {
    engine: LogEngine,
    store: Store,
    cfg: HistoryConfig,
    wtx: mpsc::Sender<Batch>,
    info: ContainerInfo,
    row: ContainerRow,
    open: OpenChunk,
    /// The next line's number.
    next_line: i64,
    /// The last line recorded (written or buffered).
    mark: Option<Cursor>,
    life: Life,
    lost: metrics_handles::Lost,
    deaths: Deaths,
    observer: Option<Arc<dyn Observer>>,
    engine_name: String,
    /// Lines read from Docker ahead of the live subscription (to place a
    /// run's end after all its lines): the subscription delivers them
    /// again, and they are skipped once.
    ahead: std::collections::HashSet<Cursor>,
}

mod metrics_handles {
    /// The lost-lines counters, looked up once per container.
    pub(super) struct Lost {
        pub(super) gone: ::metrics::Counter,
        pub(super) unknown: ::metrics::Counter,
        pub(super) recorded: ::metrics::Counter,
    }

    impl Lost {
        pub(super) fn new() -> Self {
            Lost {
                gone: ::metrics::counter!(crate::metrics::LINES_LOST, "reason" => "rotated"),
                unknown: ::metrics::counter!(crate::metrics::LINES_LOST, "reason" => "unknown"),
                recorded: ::metrics::counter!(crate::metrics::LINES_RECORDED),
            }
        }
    }
}

/// What every container recorder of an engine shares.
#[derive(Clone)]
struct Common {
    engine: LogEngine,
    store: Store,
    cfg: HistoryConfig,
    wtx: mpsc::Sender<Batch>,
    deaths: Deaths,
    observer: Option<Arc<dyn Observer>>,
    engine_name: String,
}

impl ContainerRecorder {
    fn new(common: Common, info: ContainerInfo, row: ContainerRow) -> Self {
        let Common {
            engine,
            store,
            cfg,
            wtx,
            deaths,
            observer,
            engine_name,
        } = common;
        let life = match (row.started_at, row.ended_at) {
            (Some(s), Some(e)) if e >= s => Life::Exited,
            (Some(_), _) => Life::Running,
            _ => Life::Unknown,
        };
        ContainerRecorder {
            engine,
            store,
            cfg,
            wtx,
            mark: row.last_cursor.as_deref().and_then(|c| c.parse().ok()),
            next_line: row.lines,
            open: OpenChunk::new(0, row.lines),
            info,
            row,
            life,
            lost: metrics_handles::Lost::new(),
            deaths,
            observer,
            engine_name,
            ahead: std::collections::HashSet::new(),
        }
    }

    fn observe(&self, step: Lifecycle) {
        if let Some(o) = &self.observer {
            o.lifecycle(&self.engine_name, &self.info, &step);
        }
    }

    async fn send(&self, writes: Batch) -> Result<(), Stop> {
        if writes.is_empty() {
            return Ok(());
        }
        self.wtx.send(writes).await.map_err(|_| Stop::WriterGone)
    }

    async fn run(mut self) {
        if let Err(e) = self.resume_open_chunk().await {
            tracing::warn!(container = %self.info.name, error = %e, "history: cannot read the open chunk");
            return;
        }
        if self.row.lines == 0 && self.row.started_at.is_none() {
            let created = Write::Event(self.event("created", self.row.created_at));
            if self.send(vec![created]).await.is_err() {
                return;
            }
        }
        let mut delay = Duration::from_millis(100);
        loop {
            let started = tokio::time::Instant::now();
            match self.round().await {
                Stop::Removed | Stop::WriterGone => return,
                Stop::Again => {
                    if started.elapsed() > Duration::from_secs(5) {
                        delay = Duration::from_millis(100);
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Picks up the container's chunk being filled, if the last recorder
    /// left one open: lines keep going into it.
    async fn resume_open_chunk(&mut self) -> Result<(), crate::read::ReadError> {
        let last = self.store.open_chunk(self.row.id).await?;
        let next_seq = self
            .store
            .chunks_for_lines(self.row.id, self.row.lines - 1, self.row.lines)
            .await?
            .last()
            .map_or(0, |c| c.seq + 1);
        match last {
            Some(c) if c.first_line + c.lines == self.row.lines => {
                let d = chunk::Decoded::from_stored(&c.data, self.cfg.max_chunk_raw)?;
                let mut open = OpenChunk::new(c.seq, c.first_line);
                for l in d.lines() {
                    open.push(l);
                }
                open.written = open.lines.len();
                self.open = open;
            }
            _ => self.open = OpenChunk::new(next_seq, self.row.lines),
        }
        Ok(())
    }

    fn event(&self, kind: &str, at: i64) -> EventRow {
        EventRow {
            container: self.row.id,
            at,
            kind: kind.to_owned(),
            line: self.next_line,
            exit_code: None,
            count: None,
            detail: None,
        }
    }

    /// Catch up from Docker after the mark, then follow live until the
    /// container is removed or the subscription falls behind.
    async fn round(&mut self) -> Stop {
        // Taken before the catch-up read: a run it shows ended has all its
        // lines in that read.
        let before = match self.note_run().await {
            Ok(run) => run,
            Err(stop) => return stop,
        };
        // Catch up: everything after the last line history holds.
        tracing::debug!(container = %self.info.name, lines = self.next_line, "history: catching up");
        self.ahead.clear();
        if let Err(stop) = self.catch_up().await {
            return stop;
        }
        tracing::debug!(container = %self.info.name, lines = self.next_line, "history: caught up; following");
        // A run that ended while no one recorded it ends after its lines.
        if let Some(run) = before
            && let Err(stop) = self.note_end(&run).await
        {
            return stop;
        }
        // Live, joined exactly after the last line recorded.
        let start = match self.mark {
            Some(c) => StartAt::After(c.into()),
            None => StartAt::Since(0),
        };
        let buffer = Some((self.cfg.buffer_lines, self.cfg.buffer_bytes));
        let mut sub = match self
            .engine
            .subscribe_bounded(&self.info, start, buffer)
            .await
        {
            Ok(s) => s,
            Err(SubscribeError::Start(labtail_logs::StartError::NotFound)) => {
                tracing::debug!(container = %self.info.name, "history: gone before it could be followed");
                // Removed between the catch-up and now: what it wrote
                // meanwhile is still in its (held) log file.
                if let Err(stop) = self.catch_up().await {
                    return stop;
                }
                return self.removed().await;
            }
            Err(e) => {
                tracing::debug!(container = %self.info.name, error = %e, "history: cannot follow");
                return Stop::Again;
            }
        };
        let mut flush = tokio::time::interval(self.cfg.flush_interval);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut joined = true;
        loop {
            let r = tokio::select! {
                d = sub.next() => match d {
                    Some(Delivery::Lines(s)) => {
                        joined = false;
                        let mut lines = s.lines().to_vec();
                        if !self.ahead.is_empty() {
                            lines.retain(|l| !self.ahead.remove(&l.cursor));
                        }
                        self.append(lines).await
                    }
                    Some(Delivery::Gap { count, .. }) => {
                        if joined {
                            // Right at the join: Docker no longer has them.
                            self.gap(count).await
                        } else {
                            // Fell behind (the database was slow): read
                            // them back from Docker.
                            let _ = self.flush(false).await;
                            return Stop::Again;
                        }
                    }
                    Some(Delivery::Status(s)) => self.status(s).await,
                    Some(Delivery::Renamed(name)) => self.renamed(name).await,
                    None => return self.removed().await,
                },
                _ = flush.tick() => self.flush(false).await,
            };
            if let Err(stop) = r {
                return stop;
            }
        }
    }

    /// Reads from Docker every line after the last one recorded.
    async fn catch_up(&mut self) -> Result<(), Stop> {
        let mut rx = self.engine.read_after(&self.info, self.mark);
        while let Some(item) = rx.recv().await {
            match item {
                Ok(After::Lines(lines)) => self.append(lines).await?,
                Ok(After::Missed) => self.gap(None).await?,
                Err(DockerError::NotFound) => return Err(self.removed().await),
                Err(e) => {
                    tracing::debug!(container = %self.info.name, error = %e, "history: catch-up read failed");
                    return Err(Stop::Again);
                }
            }
        }
        Ok(())
    }

    /// Reads from Docker the lines after the last one recorded that are
    /// stamped before `until` (a run's last lines, before its end is
    /// noted), ahead of the subscription, which delivers them again (they
    /// are skipped once, `ahead`). `Gone` when the container is removed:
    /// then its end is not noted here but by `removed` (its `die` event),
    /// after the lines the subscription still holds.
    async fn read_ahead(&mut self, until: i64) -> Result<Ahead, Stop> {
        let mut rx = self.engine.read_after(&self.info, self.mark);
        while let Some(item) = rx.recv().await {
            let mut lines = match item {
                Ok(After::Lines(lines)) => lines,
                Err(DockerError::NotFound) => return Ok(Ahead::Gone),
                Ok(After::Missed) | Err(_) => return Ok(Ahead::Failed),
            };
            let before = lines
                .iter()
                .take_while(|l| l.cursor.ts_nanos < until)
                .count();
            let done = before < lines.len();
            lines.truncate(before);
            if self.ahead.len() + lines.len() > MAX_AHEAD {
                return Ok(Ahead::Failed);
            }
            self.ahead.extend(lines.iter().map(|l| l.cursor));
            self.append(lines).await?;
            if done {
                return Ok(Ahead::Read);
            }
        }
        Ok(Ahead::Read)
    }

    /// Notes a run begun while no one recorded the container (labtail was
    /// down, or it ran before its recorder got to it): `inspect` knows the
    /// last; it is returned, for [`Self::note_end`] once the lines read
    /// after it are recorded.
    async fn note_run(&mut self) -> Result<Option<labtail_logs::RunInfo>, Stop> {
        let run = match self.engine.docker().inspect_run(&self.info.id).await {
            Ok(r) => r,
            // Gone already: its log may still be read (a held file); the
            // reads that follow find out, and `removed` tells its end.
            Err(_) => return Ok(None),
        };
        let mut writes = Vec::new();
        if let Some(s) = run
            .started_at
            .filter(|s| Some(*s) > self.row.started_at && *s > 0)
        {
            writes.push(Write::Started {
                container: self.row.id,
                at: s,
            });
            writes.push(Write::Event(self.event("started", s)));
            self.row.started_at = Some(s);
            self.life = Life::Running;
            self.observe(Lifecycle::Started { at: s });
        }
        self.send(writes).await?;
        Ok(Some(run))
    }

    /// Notes the end of the run `run` (an `inspect` taken before the last
    /// read) showed over: after its lines, which that read held.
    async fn note_end(&mut self, run: &labtail_logs::RunInfo) -> Result<(), Stop> {
        let mut writes = Vec::new();
        if !run.running
            && let Some(f) = run.finished_at.filter(|f| Some(*f) > self.row.ended_at)
            && self.life != Life::Exited
        {
            self.note_exit(&mut writes, f, run.exit_code);
        }
        self.send(writes).await
    }

    async fn append(&mut self, lines: Vec<Line>) -> Result<(), Stop> {
        if self.life == Life::Unknown && !lines.is_empty() {
            // Recording began before the container started (its `created`
            // was heard): its start goes before its first line.
            self.note_run().await?;
        }
        self.lost.recorded.increment(lines.len() as u64);
        if let Some(o) = &self.observer {
            o.lines(&self.engine_name, &self.info, &lines);
        }
        for l in lines {
            self.mark = Some(l.cursor);
            self.next_line += 1;
            self.open.push(l);
            if self.open.raw >= self.cfg.chunk_bytes {
                self.seal().await?;
            }
        }
        Ok(())
    }

    /// Writes the open chunk for good and starts the next.
    async fn seal(&mut self) -> Result<(), Stop> {
        let next = OpenChunk::new(self.open.seq + 1, self.next_line);
        let open = std::mem::replace(&mut self.open, next);
        let (id, level) = (self.row.id, self.cfg.level);
        // Compressing hard takes a few milliseconds: off the runtime.
        let write = tokio::task::spawn_blocking(move || open.write(id, true, level))
            .await
            .ok()
            .flatten();
        match write {
            Some(w) => self.send(vec![Write::Chunk(w)]).await,
            None => Ok(()),
        }
    }

    /// Writes the open chunk as it is (it stays open).
    async fn flush(&mut self, _final: bool) -> Result<(), Stop> {
        if !self.open.dirty() {
            return Ok(());
        }
        let Some(w) = self.open.write(self.row.id, false, 1) else {
            return Ok(());
        };
        self.open.written = self.open.lines.len();
        self.send(vec![Write::Chunk(w)]).await
    }

    async fn gap(&mut self, count: Option<u64>) -> Result<(), Stop> {
        match count {
            Some(n) => self.lost.gone.increment(n),
            None => self.lost.unknown.increment(1),
        }
        tracing::warn!(container = %self.info.name, ?count, "history: lines lost");
        self.flush(false).await?;
        let mut e = self.event("gap", now_ns());
        e.count = count.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        self.send(vec![Write::Event(e)]).await
    }

    /// A run status from the hub. What it says is checked against Docker's
    /// own times: a run is noted by its `StartedAt`, an end by its
    /// `FinishedAt`, each once. The hub may tell one end twice (from the
    /// follow stream and from the `die` event), tell it late (after the
    /// next run started), or tell an `exited` of a container that only
    /// just started; none of that reaches the timeline twice or at the
    /// wrong place.
    async fn status(&mut self, s: RunStatus) -> Result<(), Stop> {
        tracing::debug!(container = %self.info.name, status = ?s, lines = self.next_line, "history: status");
        match s {
            RunStatus::Running | RunStatus::Exited { .. } => {}
            RunStatus::Removed => return Err(self.removed().await),
            _ => return Ok(()),
        }
        self.flush(false).await?;
        let Ok(run) = self.engine.docker().inspect_run(&self.info.id).await else {
            // Gone: `removed` follows and tells the end from the `die` event.
            return Ok(());
        };
        let told = match s {
            RunStatus::Exited { exit_code } => exit_code,
            _ => None,
        };
        // Docker keeps a run's exit code until the next run starts; a
        // restarting container's run is over.
        let over = !run.running || run.restarting;
        let new_run = run
            .started_at
            .filter(|at| *at > 0 && self.row.started_at.is_none_or(|st| *at > st));
        let mut writes = Vec::new();
        // The end of the run noted last, if it is not noted yet and the hub
        // told it (after that run's lines) or a newer run began: Docker's
        // `FinishedAt` when it is that run's; else its `die` event; else no
        // later than the newer run's start. `inspect` showing the run over
        // on a `running` is not its end: its lines may still be on their
        // way (a quick job's whole run fits between the hub's look and ours).
        let told_end = matches!(s, RunStatus::Exited { .. });
        if let Some(st) = self.row.started_at
            && self.row.ended_at.is_none_or(|e| e < st)
            && (told_end || new_run.is_some())
        {
            let next = new_run.unwrap_or(i64::MAX);
            let end = match run.finished_at {
                Some(f) if f >= st && f <= next => {
                    let code = if over && new_run.is_none() {
                        run.exit_code.or(told)
                    } else {
                        self.deaths
                            .between(&self.info.id, st, next)
                            .and_then(|d| d.1)
                            .or(told)
                    };
                    Some((f, code))
                }
                _ => self
                    .deaths
                    .between(&self.info.id, st, next)
                    .or(new_run.map(|n| (n, None))),
            };
            if let Some((at, exit_code)) = end {
                // After every line of that run: the hub tells an end after
                // the lines it published, but what this subscription was
                // handed first (Docker's log read back, then the status as
                // the hub last saw it) can tell a stale `exited` before the
                // run's last lines. Docker's log holds them; read them now.
                // Gone: `removed` notes the end after the lines still on
                // their way (unless a newer run began: the hub told this
                // one's lines before it). Docker not read (an error, a
                // rotation past the mark): noted here, as the hub told it.
                if self.read_ahead(at).await? != Ahead::Gone || new_run.is_some() {
                    self.note_exit(&mut writes, at, exit_code);
                }
            }
        }
        // A run not noted yet: its start only. Its end is the hub's to tell
        // (the hub tells every run it places as `running` first, then its
        // lines, then its exit); an `exited` told now may be of the state
        // the hub saw before this run (`created`), with this run's lines
        // still to come.
        if let Some(at) = new_run {
            writes.push(Write::Started {
                container: self.row.id,
                at,
            });
            writes.push(Write::Event(self.event("started", at)));
            self.row.started_at = Some(at);
            self.life = Life::Running;
            self.observe(Lifecycle::Started { at });
        }
        self.send(writes).await
    }

    fn note_exit(&mut self, writes: &mut Batch, at: i64, exit_code: Option<i64>) {
        tracing::debug!(container = %self.info.name, at, ?exit_code, lines = self.next_line, "history: exit noted");
        writes.push(Write::Exited {
            container: self.row.id,
            at,
            exit_code,
        });
        let mut e = self.event("exited", at);
        e.exit_code = exit_code;
        writes.push(Write::Event(e));
        self.row.ended_at = Some(at);
        self.life = Life::Exited;
        self.observe(Lifecycle::Exited { at, exit_code });
    }

    /// `docker rename`: the history keeps its lines under the new name.
    async fn renamed(&mut self, name: String) -> Result<(), Stop> {
        let mut e = self.event("renamed", now_ns());
        e.detail = Some(format!("{} → {name}", self.info.name));
        self.info.name = name.clone();
        self.send(vec![
            Write::Renamed {
                container: self.row.id,
                name,
            },
            Write::Event(e),
        ])
        .await
    }

    /// How the container's last run ended, as its `die` event said. Docker
    /// sent it before the removal this recorder noticed, but a loaded
    /// dockerd (or labtail) can deliver its events a second or more late:
    /// wait for it, or for the removal's event (no death before it: it
    /// never ran), bounded.
    async fn death(&self) -> Option<(i64, Option<i64>)> {
        let until = tokio::time::Instant::now() + DEATH_WAIT;
        loop {
            if let Some(d) = self.deaths.of(&self.info.id) {
                return d;
            }
            if tokio::time::Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The container is gone: its last lines and its end are written.
    async fn removed(&mut self) -> Stop {
        tracing::debug!(container = %self.info.name, lines = self.next_line, "history: container removed");
        let sealed = if self.open.dirty() || self.open.written > 0 {
            let (id, level) = (self.row.id, self.cfg.level);
            let open = std::mem::replace(&mut self.open, OpenChunk::new(0, self.next_line));
            tokio::task::spawn_blocking(move || open.write(id, true, level))
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        let at = now_ns();
        let mut writes: Vec<Write> = sealed.into_iter().map(Write::Chunk).collect();
        let death = if self.life != Life::Exited {
            self.death().await
        } else {
            None
        };
        tracing::debug!(container = %self.info.name, life = ?self.life, ?death, "history: its end");
        if let Some((died, exit_code)) = death {
            // Gone before anyone asked Docker how it ended: the `die`
            // event said.
            self.note_exit(&mut writes, died, exit_code);
        }
        writes.push(Write::Removed {
            container: self.row.id,
            at,
        });
        writes.push(Write::Event(self.event("removed", at)));
        self.observe(Lifecycle::Removed { at });
        match self.send(writes).await {
            Ok(()) => Stop::Removed,
            Err(stop) => stop,
        }
    }
}

/// The engines of a fleet, as recorders take them.
pub fn engines_of(
    fleet: &labtail_logs::Fleet,
    observer: Option<Arc<dyn Observer>>,
) -> Vec<EngineToRecord> {
    let prefix = fleet.names_carry_host();
    fleet
        .engines()
        .into_iter()
        .map(|(name, engine)| EngineToRecord {
            engine,
            observer: observer.clone(),
            name,
            prefix_names: prefix,
        })
        .collect()
}

/// Keeps every recorder of a node alive (dropping it stops them).
#[derive(Debug, Default)]
pub struct Recorders {
    _running: Vec<Arc<Recorder>>,
}

impl Recorders {
    /// Records every engine of the fleet (each while this node holds its lease).
    pub fn start(
        fleet: &labtail_logs::Fleet,
        store: &Store,
        cfg: &HistoryConfig,
        node: &str,
        observer: Option<Arc<dyn Observer>>,
    ) -> Self {
        Recorders {
            _running: engines_of(fleet, observer)
                .into_iter()
                .map(|t| {
                    Arc::new(Recorder::spawn(
                        t,
                        store.clone(),
                        cfg.clone(),
                        node.to_owned(),
                    ))
                })
                .collect(),
        }
    }
}
