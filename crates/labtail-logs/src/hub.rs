//! One hub per watched container: one upstream from dockerd, fanned out to
//! every subscriber.
//!
//! The hub's task reads the container's log once (a backlog of the last
//! `backlog_lines`, then a follow stream), frames it into lines and publishes
//! them in batches. Publishing appends to a bounded in-memory ring (the
//! backlog for late joiners) and to every subscriber's queue, all under the
//! hub's lock. A subscriber attaches under the same lock: it takes a snapshot
//! of the ring and registers its queue in one step, so the seam between its
//! backlog and its live lines has no gap and no duplicate.
//!
//! Publishing never waits for a subscriber: each queue is bounded (lines and
//! bytes); when a subscriber falls behind by more, its oldest batches are
//! dropped, and it learns exactly how many lines it lost from the batches'
//! sequence numbers. Batches are shared by `Arc`, so a queue costs memory only
//! for what its subscriber has not read yet and the ring no longer holds.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::sync::{broadcast, watch};

use crate::subscription::SubQueue;

use crate::config::EngineConfig;
use crate::docker::{Backoff, ContainerInfo, DockerClient, DockerError, ReadFrom};
use crate::events::{EventWatcher, WatchEvent};
use crate::frame::Framer;
use crate::line::{Cursor, Line};

/// A resume point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    After(Cursor),
    /// Nanoseconds since the epoch.
    Since(i64),
}

/// Lines published together. Shared (by `Arc`) between the ring and every
/// subscriber, so a line is stored once however many watch it.
#[derive(Debug)]
pub struct Batch {
    /// Hub-local sequence number of `lines[0]`; line `i` has `first_seq + i`.
    pub first_seq: u64,
    pub lines: Vec<Line>,
    /// The batch as the server sends it, made once by the first subscriber
    /// that sends it whole and reused by all the others.
    pub rendered: Rendered,
}

/// A rendering of a whole batch, shared by every subscriber: a thousand
/// viewers of one container cost one encoding per batch, not a thousand.
/// The engine does not know the wire format, so the value is opaque here.
#[derive(Default)]
pub struct Rendered(std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>);

impl Rendered {
    /// The rendering, made by `make` if this is the first call. `None` if
    /// an earlier call stored a value of another type.
    pub fn get_or_init<T: std::any::Any + Send + Sync>(
        &self,
        make: impl FnOnce() -> T,
    ) -> Option<&T> {
        self.0.get_or_init(|| Box::new(make())).downcast_ref::<T>()
    }
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Rendered(..)"
        } else {
            "Rendered(-)"
        })
    }
}

impl Batch {
    pub(crate) fn last_seq(&self) -> u64 {
        self.first_seq + self.lines.len() as u64 - 1
    }

    pub(crate) fn text_bytes(&self) -> usize {
        self.lines.iter().map(|l| l.text.len()).sum()
    }
}

/// A run of lines handed to a subscriber: `batch.lines[start..]`.
#[derive(Debug, Clone)]
pub struct LineSlice {
    pub batch: Arc<Batch>,
    pub start: usize,
}

impl LineSlice {
    pub fn lines(&self) -> &[Line] {
        &self.batch.lines[self.start.min(self.batch.lines.len())..]
    }

    /// True when this is a whole batch as the hub published it.
    pub fn is_whole(&self) -> bool {
        self.start == 0
    }
}

/// The lifecycle of the watched container, as the hub sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    /// Not running (exited, created, dead); the exit code when it had one.
    Exited {
        exit_code: Option<i64>,
    },
    /// dockerd is unreachable; the hub is reconnecting.
    EngineDown,
    /// The container was removed. Final.
    Removed,
}

#[derive(Debug, Clone)]
pub(crate) enum HubEvent {
    Lines(Arc<Batch>),
    Status(RunStatus),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    Starting,
    Ready,
    Failed(StartError),
}

/// Why a hub could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("container not found")]
    NotFound,
    #[error("Docker engine unavailable: {0}")]
    Unavailable(String),
    #[error("Docker cannot read this container's log: {0}")]
    Unreadable(String),
}

/// Cursors published recently, to drop what a re-read delivers again.
///
/// After a reconnect the hub re-reads from the whole second of its last line
/// (Docker's `since` takes seconds) and must skip what it already published.
/// Comparing cursors is not enough: Docker's stdout and stderr copiers race,
/// so the log's order is not strictly timestamp order, and a line with an
/// earlier timestamp can come after one with a later timestamp. Membership
/// in this set is exact. It keeps the lines of the last `SEEN_SECS` seconds
/// (at most `MAX_SEEN`; beyond that, older cursors fall back to comparison).
#[derive(Debug, Default)]
struct Seen {
    set: std::collections::HashSet<Cursor>,
    order: VecDeque<Cursor>,
    /// Newest cursor evicted from the set.
    evicted_max: Option<Cursor>,
}

const MAX_SEEN: usize = 200_000;

impl Seen {
    fn contains(&self, c: &Cursor) -> bool {
        self.set.contains(c) || self.evicted_max.is_some_and(|m| *c <= m)
    }

    fn insert(&mut self, c: Cursor) {
        if self.set.insert(c) {
            self.order.push_back(c);
        }
        let horizon = c.floor_secs() - SEEN_SECS;
        while let Some(front) = self.order.front().copied() {
            let too_old = front.floor_secs() < horizon;
            let too_many = self.order.len() > MAX_SEEN;
            if !too_old && !too_many {
                break;
            }
            self.order.pop_front();
            self.set.remove(&front);
            // Too old to come back in a re-read (those start at most
            // `REREAD_MARGIN_SECS` before the last line's second); evicted for
            // space, it could, so remember the bound.
            if !too_old {
                self.evicted_max = Some(self.evicted_max.map_or(front, |m| m.max(front)));
            }
        }
    }
}

/// A re-read starts this many whole seconds before the last line's second,
/// to catch a line whose timestamp is a hair earlier than its predecessor's.
const REREAD_MARGIN_SECS: i64 = 1;
/// Seconds of cursors `Seen` keeps: more than a re-read can cover.
const SEEN_SECS: i64 = REREAD_MARGIN_SECS + 2;

#[derive(Debug)]
struct HubState {
    seen: Seen,
    ring: VecDeque<Arc<Batch>>,
    ring_lines: usize,
    ring_bytes: usize,
    next_seq: u64,
    last: Option<Cursor>,
    status: RunStatus,
    watchers: usize,
    closed: bool,
    subs: std::collections::HashMap<u64, Arc<SubQueue>>,
    next_sub_id: u64,
}

#[derive(Debug)]
pub(crate) struct Hub {
    pub(crate) container: ContainerInfo,
    state: Mutex<HubState>,
    phase: watch::Sender<Phase>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn lock(m: &Mutex<HubState>) -> MutexGuard<'_, HubState> {
    // A panic while holding this lock cannot leave the ring half-updated in a
    // way that matters more than losing every stream, so keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a new subscriber gets, taken atomically.
pub(crate) struct Attachment {
    pub sub_id: u64,
    pub queue: Arc<SubQueue>,
    pub backlog: Vec<LineSlice>,
    pub next_seq: u64,
    pub last: Option<Cursor>,
    pub status: RunStatus,
}

impl Hub {
    pub(crate) fn new(container: ContainerInfo, cfg: &EngineConfig) -> Arc<Self> {
        let _ = cfg;
        let (phase, _) = watch::channel(Phase::Starting);
        Arc::new(Hub {
            container,
            state: Mutex::new(HubState {
                seen: Seen::default(),
                ring: VecDeque::new(),
                ring_lines: 0,
                ring_bytes: 0,
                next_seq: 0,
                last: None,
                status: RunStatus::Running,
                watchers: 0,
                closed: false,
                subs: std::collections::HashMap::new(),
                next_sub_id: 0,
            }),
            phase,
            task: Mutex::new(None),
        })
    }

    pub(crate) fn start(
        self: &Arc<Self>,
        docker: DockerClient,
        events: Arc<EventWatcher>,
        cfg: EngineConfig,
    ) {
        let task = tokio::spawn(run(self.clone(), docker, events, cfg));
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    pub(crate) fn phase(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    pub(crate) fn is_usable(&self) -> bool {
        !lock(&self.state).closed && !matches!(*self.phase.borrow(), Phase::Failed(_))
    }

    pub(crate) fn add_watcher(&self) {
        lock(&self.state).watchers += 1;
    }

    /// Removes a watcher; true when it was the last one (the hub is now closed).
    pub(crate) fn remove_watcher(&self) -> bool {
        let mut st = lock(&self.state);
        st.watchers = st.watchers.saturating_sub(1);
        if st.watchers == 0 && !st.closed {
            st.closed = true;
            drop(st);
            if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
                // Dropping the task's future drops the follow stream, which
                // closes the connection to dockerd.
                task.abort();
            }
            return true;
        }
        false
    }

    /// Receiver plus the last `tail` lines of the ring, atomically.
    pub(crate) fn attach(&self, tail: usize, cfg: &EngineConfig) -> Attachment {
        let mut st = lock(&self.state);
        let mut backlog = Vec::new();
        let mut need = tail;
        for batch in st.ring.iter().rev() {
            if need == 0 {
                break;
            }
            let n = batch.lines.len();
            let start = n.saturating_sub(need);
            need -= n - start;
            backlog.push(LineSlice {
                batch: batch.clone(),
                start,
            });
        }
        backlog.reverse();
        let (sub_id, queue) = register(&mut st, cfg);
        Attachment {
            sub_id,
            queue,
            backlog,
            next_seq: st.next_seq,
            last: st.last,
            status: st.status.clone(),
        }
    }

    /// Attaches from a resume point when the ring reaches back to it:
    /// `After(c)` starts right after the line with cursor `c` (found by exact
    /// position, since Docker's order is not strictly cursor order across
    /// streams), `Since(t)` at the first line stamped `t` or later. `None`
    /// when the ring starts after the resume point (the caller must read the
    /// older part from Docker).
    pub(crate) fn attach_resume(&self, r: Resume, cfg: &EngineConfig) -> Option<Attachment> {
        let mut st = lock(&self.state);
        let first = st.ring.front().and_then(|b| b.lines.first())?.cursor;
        let start = match r {
            Resume::After(c) => {
                if first > c {
                    return None;
                }
                let mut exact = None;
                let mut above = None;
                for (bi, b) in st.ring.iter().enumerate() {
                    for (li, l) in b.lines.iter().enumerate() {
                        if l.cursor == c {
                            exact = Some((bi, li + 1));
                        } else if above.is_none() && l.cursor > c {
                            above = Some((bi, li));
                        }
                    }
                }
                exact.or(above)
            }
            Resume::Since(t) => {
                if first.ts_nanos > t {
                    return None;
                }
                st.ring.iter().enumerate().find_map(|(bi, b)| {
                    b.lines
                        .iter()
                        .position(|l| l.cursor.ts_nanos >= t)
                        .map(|li| (bi, li))
                })
            }
        };
        let mut backlog = Vec::new();
        if let Some((bi, li)) = start {
            for (i, batch) in st.ring.iter().enumerate().skip(bi) {
                let start = if i == bi { li } else { 0 };
                if start < batch.lines.len() {
                    backlog.push(LineSlice {
                        batch: batch.clone(),
                        start,
                    });
                }
            }
        }
        let (sub_id, queue) = register(&mut st, cfg);
        Some(Attachment {
            sub_id,
            queue,
            backlog,
            next_seq: st.next_seq,
            last: st.last,
            status: st.status.clone(),
        })
    }

    pub(crate) fn unregister(&self, sub_id: u64) {
        lock(&self.state).subs.remove(&sub_id);
    }

    fn set_phase(&self, p: Phase) {
        self.phase.send_replace(p);
    }

    fn set_status(&self, status: RunStatus) {
        let mut st = lock(&self.state);
        if st.status != status {
            st.status = status.clone();
            for q in st.subs.values() {
                q.push(HubEvent::Status(status.clone()));
            }
        }
    }

    fn last_cursor(&self) -> Option<Cursor> {
        lock(&self.state).last
    }

    /// Publishes lines newer than the last published one, in bounded batches.
    fn publish(&self, lines: Vec<Line>, cfg: &EngineConfig) {
        let mut st = lock(&self.state);
        // Re-reads after a reconnect start at a whole second and overlap what
        // was published; within one read every line is new.
        let mut lines: Vec<Line> = lines
            .into_iter()
            .filter(|l| !st.seen.contains(&l.cursor))
            .collect();
        for l in &lines {
            st.seen.insert(l.cursor);
        }
        if lines.is_empty() {
            return;
        }
        metrics::counter!("labtail_lines_read_total").increment(lines.len() as u64);
        while !lines.is_empty() {
            let mut take = 0;
            let mut bytes = 0;
            while take < lines.len() && take < cfg.batch_max_lines.max(1) {
                let w = lines[take].text.len();
                if take > 0 && bytes + w > cfg.batch_max_bytes {
                    break;
                }
                bytes += w;
                take += 1;
            }
            let rest = lines.split_off(take);
            let batch = Arc::new(Batch {
                first_seq: st.next_seq,
                lines,
                rendered: Rendered::default(),
            });
            lines = rest;
            st.next_seq += batch.lines.len() as u64;
            st.last = batch.lines.last().map(|l| l.cursor);
            st.ring_lines += batch.lines.len();
            st.ring_bytes += batch.lines.iter().map(Line::weight).sum::<usize>();
            st.ring.push_back(batch.clone());
            trim_ring(&mut st, cfg);
            for q in st.subs.values() {
                q.push(HubEvent::Lines(batch.clone()));
            }
        }
    }
}

fn register(st: &mut HubState, cfg: &EngineConfig) -> (u64, Arc<SubQueue>) {
    let id = st.next_sub_id;
    st.next_sub_id += 1;
    let q = Arc::new(SubQueue::new(
        cfg.subscriber_buffer_lines,
        cfg.subscriber_buffer_bytes,
    ));
    st.subs.insert(id, q.clone());
    (id, q)
}

fn trim_ring(st: &mut HubState, cfg: &EngineConfig) {
    while let Some(front) = st.ring.front() {
        let n = front.lines.len();
        let w: usize = front.lines.iter().map(Line::weight).sum();
        let over_lines = st.ring_lines - n >= cfg.backlog_lines;
        let over_bytes = st.ring_bytes > cfg.backlog_bytes && st.ring.len() > 1;
        if !(over_lines || over_bytes) {
            break;
        }
        st.ring.pop_front();
        st.ring_lines -= n;
        st.ring_bytes -= w;
    }
}

/// Counts open follow streams to dockerd while alive.
struct UpstreamGauge;

impl UpstreamGauge {
    fn new() -> Self {
        metrics::gauge!("labtail_upstream_streams_open").increment(1.0);
        UpstreamGauge
    }
}

impl Drop for UpstreamGauge {
    fn drop(&mut self) {
        metrics::gauge!("labtail_upstream_streams_open").decrement(1.0);
    }
}

enum FollowEnd {
    /// Docker closed the stream: the container stopped, restarted or went away.
    Closed,
    Failed(DockerError),
}

async fn run(hub: Arc<Hub>, docker: DockerClient, events: Arc<EventWatcher>, cfg: EngineConfig) {
    let id = hub.container.id.clone();
    // Subscribe before the first look so no start/destroy event falls between.
    let mut ev_rx = events.subscribe();

    // Start-up: the current state and the backlog, or a clear failure.
    let first = match docker.inspect_run(&id).await {
        Ok(run) => run,
        Err(e) => {
            hub.set_phase(Phase::Failed(start_error(e)));
            return;
        }
    };
    let backlog = ReadFrom::Tail(cfg.backlog_lines as u64);
    match read_lines(&docker, &id, backlog, &cfg, cfg.backlog_lines).await {
        Ok(lines) => hub.publish(lines, &cfg),
        Err(e) => {
            hub.set_phase(Phase::Failed(start_error(e)));
            return;
        }
    }
    hub.set_status(if first.running || first.restarting {
        RunStatus::Running
    } else {
        RunStatus::Exited {
            exit_code: first.exit_code,
        }
    });
    hub.set_phase(Phase::Ready);

    let mut backoff = Backoff::new(cfg.reconnect_max_delay);
    loop {
        let run = match docker.inspect_run(&id).await {
            Ok(run) => run,
            Err(DockerError::NotFound) => {
                hub.set_status(RunStatus::Removed);
                return;
            }
            Err(e) => {
                tracing::debug!(container = %hub.container.name, error = %e, "inspect failed");
                hub.set_status(RunStatus::EngineDown);
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        };
        if run.running {
            hub.set_status(RunStatus::Running);
            let opened = tokio::time::Instant::now();
            match follow(&hub, &docker, &cfg).await {
                FollowEnd::Closed => {
                    // The run ended. If the container is already up again
                    // (a quick `docker restart`), inspect will say "running";
                    // the `die` event still tells watchers the run ended.
                    if let Some(exit_code) = pending_die(&mut ev_rx, &id) {
                        hub.set_status(RunStatus::Exited { exit_code });
                    }
                    // A stream that ends at once while the container still runs
                    // must not become a busy loop.
                    if opened.elapsed() < Duration::from_millis(500) {
                        tokio::time::sleep(backoff.next_delay()).await;
                    } else {
                        backoff.reset();
                    }
                }
                FollowEnd::Failed(DockerError::NotFound) => {
                    hub.set_status(RunStatus::Removed);
                    return;
                }
                FollowEnd::Failed(DockerError::Other(msg)) => {
                    // E.g. a logging driver Docker cannot read back ("none").
                    tracing::warn!(container = %hub.container.name, %msg, "cannot follow log");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                FollowEnd::Failed(e) => {
                    tracing::debug!(container = %hub.container.name, error = %e, "follow failed");
                    hub.set_status(RunStatus::EngineDown);
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
            continue;
        }
        hub.set_status(RunStatus::Exited {
            exit_code: run.exit_code,
        });
        // Stopped: wait for it to start again or to be removed.
        loop {
            match ev_rx.recv().await {
                Ok(WatchEvent::Container(ev)) if ev.id == id => match ev.action.as_str() {
                    "start" | "restart" => break,
                    "destroy" => {
                        hub.set_status(RunStatus::Removed);
                        return;
                    }
                    _ => {}
                },
                Ok(WatchEvent::Container(_)) => {}
                // Events may have been missed: look again.
                Ok(WatchEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// The exit code of a `die` event for `id` already received (and the other
/// events drained), if any.
fn pending_die(ev_rx: &mut broadcast::Receiver<WatchEvent>, id: &str) -> Option<Option<i64>> {
    let mut died = None;
    loop {
        match ev_rx.try_recv() {
            Ok(WatchEvent::Container(ev)) if ev.id == id && ev.action == "die" => {
                died = Some(ev.exit_code);
            }
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => return died,
        }
    }
}

pub(crate) fn start_error(e: DockerError) -> StartError {
    match e {
        DockerError::NotFound => StartError::NotFound,
        DockerError::Unreachable(m) => StartError::Unavailable(m),
        DockerError::Other(m) => StartError::Unreadable(m),
        // Lookups by name are the fleet's; a log read takes an ID.
        e @ DockerError::Ambiguous(_) => StartError::Unreadable(e.to_string()),
    }
}

/// Follows the log from the second of the last published line, publishing as
/// lines come. Batching adapts to the rate: a line after a quiet moment goes
/// out at once (latency); while the container prints fast, lines are
/// gathered for up to `batch_linger` into one batch (throughput), never more
/// than the batch bounds.
async fn follow(hub: &Arc<Hub>, docker: &DockerClient, cfg: &EngineConfig) -> FollowEnd {
    let since = hub
        .last_cursor()
        .map(|c| (c.floor_secs() - REREAD_MARGIN_SECS).max(1))
        .unwrap_or(0);
    let mut stream = Box::pin(docker.logs(&hub.container.id, ReadFrom::SinceSecs(since), true));
    let _gauge = UpstreamGauge::new();
    let mut framer = Framer::new(cfg.max_line_bytes);
    let mut seek = Seek::new(hub.last_cursor());
    let mut lines = Vec::new();
    let mut last_publish: Option<tokio::time::Instant> = None;
    let max_lines = cfg.batch_max_lines.max(1);
    loop {
        let mut end = None;
        match stream.next().await {
            Some(Ok(frame)) => framer.push(&frame, &mut lines),
            Some(Err(e)) => end = Some(FollowEnd::Failed(e)),
            None => end = Some(FollowEnd::Closed),
        }
        let now = tokio::time::Instant::now();
        // In a burst (the last batch went out less than a linger ago) keep
        // gathering until the linger is over; otherwise only take what is
        // already there.
        let gather_until = match last_publish {
            Some(t) if now.duration_since(t) < cfg.batch_linger => Some(t + cfg.batch_linger),
            _ => None,
        };
        let mut bytes = 0usize;
        while end.is_none() && lines.len() < max_lines && bytes < cfg.batch_max_bytes {
            let next = match gather_until {
                Some(deadline) => tokio::time::timeout_at(deadline, stream.next()).await.ok(),
                None => stream.next().now_or_never(),
            };
            match next {
                Some(Some(Ok(frame))) => {
                    bytes += frame.bytes.len();
                    framer.push(&frame, &mut lines);
                }
                Some(Some(Err(e))) => end = Some(FollowEnd::Failed(e)),
                Some(None) => end = Some(FollowEnd::Closed),
                None => break,
            }
        }
        if matches!(end, Some(FollowEnd::Closed)) {
            framer.flush(&mut lines);
        }
        let mut fresh = seek.filter(std::mem::take(&mut lines));
        if matches!(end, Some(FollowEnd::Closed)) {
            // The log ended without the line: what was set aside is new.
            fresh.append(&mut seek.aside);
        }
        if !fresh.is_empty() {
            hub.publish(fresh, cfg);
            last_publish = Some(tokio::time::Instant::now());
        }
        if let Some(end) = end {
            return end;
        }
    }
}

/// Finds where a re-read catches up with what was already published.
///
/// A (re)opened follow stream starts a little before the last published line
/// (Docker's `since` takes whole seconds). Everything up to and including
/// that line, in Docker's order, is old; everything after it is new, even a
/// line whose timestamp is a hair earlier (Docker's stdout and stderr
/// copiers race). So the position is found by the exact cursor. Should the
/// line never show up (the log was rotated away), lines after it by cursor
/// are kept aside and released once the stream is clearly past it.
struct Seek {
    target: Option<Cursor>,
    aside: Vec<Line>,
}

/// How far past the target (by timestamp) a re-read may go before the
/// target is given up as missing.
const SEEK_GIVE_UP_NANOS: i64 = (REREAD_MARGIN_SECS + 2) * 1_000_000_000;

impl Seek {
    fn new(target: Option<Cursor>) -> Self {
        Seek {
            target,
            aside: Vec::new(),
        }
    }

    fn filter(&mut self, lines: Vec<Line>) -> Vec<Line> {
        let Some(target) = self.target else {
            return lines;
        };
        let mut out = Vec::new();
        let mut iter = lines.into_iter();
        for l in iter.by_ref() {
            if l.cursor == target {
                // Found: what was set aside came before it, so it is old too.
                self.aside.clear();
                self.target = None;
                break;
            }
            if l.cursor.ts_nanos > target.ts_nanos.saturating_add(SEEK_GIVE_UP_NANOS) {
                tracing::debug!(
                    ?target,
                    "resume line not found in the re-read; comparing instead"
                );
                out.append(&mut self.aside);
                out.push(l);
                self.target = None;
                break;
            }
            if l.cursor > target {
                self.aside.push(l);
            }
        }
        out.extend(iter);
        out
    }
}

/// Reads a finite part of a log (no follow), keeping at most `keep` of the
/// newest lines.
pub(crate) async fn read_lines(
    docker: &DockerClient,
    id: &str,
    from: ReadFrom,
    cfg: &EngineConfig,
    keep: usize,
) -> Result<Vec<Line>, DockerError> {
    let mut stream = Box::pin(docker.logs(id, from, false));
    let mut framer = Framer::new(cfg.max_line_bytes);
    let mut lines = VecDeque::new();
    let mut buf = Vec::new();
    while let Some(item) = stream.next().await {
        framer.push(&item?, &mut buf);
        lines.extend(buf.drain(..));
        while lines.len() > keep {
            lines.pop_front();
        }
    }
    framer.flush(&mut buf);
    lines.extend(buf);
    while lines.len() > keep {
        lines.pop_front();
    }
    Ok(lines.into())
}

/// Keeps the newest `limit` lines pushed, counting the ones it let go.
struct Newest {
    lines: VecDeque<Line>,
    dropped: u64,
    limit: usize,
}

impl Newest {
    fn new(limit: usize) -> Self {
        Newest {
            lines: VecDeque::new(),
            dropped: 0,
            limit: limit.max(1),
        }
    }

    fn push(&mut self, l: Line) {
        self.lines.push_back(l);
        if self.lines.len() > self.limit {
            self.lines.pop_front();
            self.dropped += 1;
        }
    }
}

/// What a resume read from Docker found: the lines after the resume point
/// and before the ring (at most `limit`, the newest), and how many older
/// ones did not fit.
pub(crate) struct History {
    pub lines: Vec<Line>,
    pub dropped: u64,
}

/// Reads, from Docker, the lines after a resume point up to (not including)
/// the first line the ring holds (`ring`, the cursors of the ring snapshot).
pub(crate) async fn read_resume(
    docker: &DockerClient,
    id: &str,
    r: Resume,
    ring: &std::collections::HashSet<Cursor>,
    cfg: &EngineConfig,
) -> Result<History, DockerError> {
    let since = match r {
        Resume::After(c) => c.floor_secs() - REREAD_MARGIN_SECS,
        Resume::Since(t) => t.div_euclid(1_000_000_000),
    }
    .max(0);
    let mut stream = Box::pin(docker.logs(id, ReadFrom::SinceSecs(since), false));
    let mut framer = Framer::new(cfg.max_line_bytes);
    // Before the resume line is found, lines with a later cursor are kept
    // aside: if the line never shows up (rotated away), they are the answer.
    let mut before_found = Newest::new(cfg.max_resume_lines);
    let mut after_found = Newest::new(cfg.max_resume_lines);
    let mut found = matches!(r, Resume::Since(_));
    let mut buf = Vec::new();
    let mut reached_ring = false;
    'read: while let Some(frame) = stream.next().await {
        framer.push(&frame?, &mut buf);
        for l in buf.drain(..) {
            if ring.contains(&l.cursor) {
                reached_ring = true;
                break 'read;
            }
            match r {
                Resume::After(c) if !found => {
                    if l.cursor == c {
                        found = true;
                    } else if l.cursor > c {
                        before_found.push(l);
                    }
                }
                Resume::Since(t) if l.cursor.ts_nanos < t => {}
                _ => after_found.push(l),
            }
        }
    }
    if !reached_ring {
        framer.flush(&mut buf);
        for l in buf.drain(..) {
            if !ring.contains(&l.cursor) {
                if found {
                    after_found.push(l);
                } else if matches!(r, Resume::After(c) if l.cursor > c) {
                    before_found.push(l);
                }
            }
        }
    }
    let keep = if found { after_found } else { before_found };
    Ok(History {
        lines: keep.lines.into(),
        dropped: keep.dropped,
    })
}
