//! One hub per watched container: the ring backlog and the fan-out to
//! subscribers. The upstream task that feeds it is in `upstream.rs`.
//!
//! Publishing appends a batch to a bounded in-memory ring (the backlog for
//! late joiners) and to every subscriber's queue, all under the hub's lock.
//! A subscriber attaches under the same lock: it takes a snapshot of the
//! ring and registers its queue in one step, so the seam between its
//! backlog and its live lines has no gap and no duplicate.
//!
//! Publishing never waits for a subscriber: each queue is bounded (see
//! `queue.rs`). Batches are shared by `Arc`, so a queue costs memory only
//! for what its subscriber has not read yet and the ring no longer holds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::batch::{Batch, HubEvent, LineSlice, RunStatus};
use crate::config::EngineConfig;
use crate::docker::ContainerInfo;
use crate::line::{Cursor, Line};
use crate::queue::SubQueue;
use crate::reread::{REREAD_MARGIN_SECS, Resume, Seen};

/// How far the hub's start has got.
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

/// Where a subscriber attaches.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Start {
    /// The last `n` lines of the ring.
    Tail(usize),
    Resume(Resume),
}

#[derive(Debug)]
struct HubState {
    /// The container's name now (renames change it; `container.name` is
    /// the name it had when the hub opened).
    name: String,
    seen: Seen,
    ring: VecDeque<Arc<Batch>>,
    ring_lines: usize,
    ring_bytes: usize,
    next_seq: u64,
    last: Option<Cursor>,
    status: RunStatus,
    watchers: usize,
    closed: bool,
    subs: HashMap<u64, Arc<SubQueue>>,
    next_sub_id: u64,
}

#[derive(Debug)]
pub(crate) struct Hub {
    pub(crate) container: ContainerInfo,
    state: Mutex<HubState>,
    phase: watch::Sender<Phase>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
    /// `labtail_lines_read_total`, looked up once per hub: a lookup hashes
    /// the name, and a hub publishes up to a batch per line.
    lines_read: metrics::Counter,
}

/// What a new subscriber gets, taken atomically.
pub(crate) struct Attachment {
    pub sub_id: u64,
    /// The container's name now.
    pub name: String,
    pub queue: Arc<SubQueue>,
    pub backlog: Vec<LineSlice>,
    pub next_seq: u64,
    pub last: Option<Cursor>,
    pub status: RunStatus,
    /// The ring does not reach back to the resume point: the backlog is the
    /// whole ring, and what came before it must be read from Docker.
    pub needs_history: bool,
}

impl Attachment {
    /// The cursors of the backlog: where a read of older lines must stop.
    pub(crate) fn backlog_cursors(&self) -> HashSet<Cursor> {
        self.backlog
            .iter()
            .flat_map(|s| s.lines().iter().map(|l| l.cursor))
            .collect()
    }
}

/// Counts one watcher of a hub while alive; dropping it gives the watcher
/// back (the registry in `engine.rs` closes the hub with its last one).
pub(crate) struct Lease(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Lease {
    pub(crate) fn new(release: impl FnOnce() + Send + Sync + 'static) -> Self {
        Lease(Some(Box::new(release)))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

impl Hub {
    pub(crate) fn new(container: ContainerInfo) -> Arc<Self> {
        let (phase, _) = watch::channel(Phase::Starting);
        let name = container.name.clone();
        Arc::new(Hub {
            container,
            lines_read: metrics::counter!(crate::metrics::LINES_READ),
            state: Mutex::new(HubState {
                name,
                seen: Seen::default(),
                ring: VecDeque::new(),
                ring_lines: 0,
                ring_bytes: 0,
                next_seq: 0,
                last: None,
                status: RunStatus::Running,
                watchers: 0,
                closed: false,
                subs: HashMap::new(),
                next_sub_id: 0,
            }),
            phase,
            task: Mutex::new(None),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding this lock cannot leave the ring half-updated
        // in a way that matters more than losing every stream: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The upstream task, aborted when the last watcher leaves.
    pub(crate) fn set_task(&self, task: tokio::task::AbortHandle) {
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    pub(crate) fn phase(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    pub(crate) fn set_phase(&self, p: Phase) {
        self.phase.send_replace(p);
    }

    pub(crate) fn is_usable(&self) -> bool {
        !self.lock().closed && !matches!(*self.phase.borrow(), Phase::Failed(_))
    }

    pub(crate) fn add_watcher(&self) {
        self.lock().watchers += 1;
    }

    /// Removes a watcher; true when it was the last one (the hub is now closed).
    pub(crate) fn remove_watcher(&self) -> bool {
        let mut st = self.lock();
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

    /// Registers a subscriber and hands it its backlog, atomically.
    ///
    /// `Resume(After(mark))` starts right after the mark's line, found by
    /// exact position in the ring (Docker's order is not cursor order across
    /// streams); `Resume(Since(t))` at the first line stamped `t` or later,
    /// when the ring surely reaches back that far. Otherwise the backlog is
    /// the whole ring and `needs_history` says the older part is Docker's.
    pub(crate) fn attach(&self, start: Start, cfg: &EngineConfig) -> Attachment {
        let mut st = self.lock();
        let (from, needs_history) = match start {
            Start::Tail(n) => (tail_start(&st.ring, n), false),
            Start::Resume(r) => match resume_start(&st.ring, r) {
                Some(pos) => (pos, false),
                None => ((0, 0), true),
            },
        };
        let backlog = slices_from(&st.ring, from);
        let queue = Arc::new(SubQueue::new(
            cfg.subscriber_buffer_lines,
            cfg.subscriber_buffer_bytes,
        ));
        let sub_id = st.next_sub_id;
        st.next_sub_id += 1;
        st.subs.insert(sub_id, queue.clone());
        Attachment {
            sub_id,
            name: st.name.clone(),
            queue,
            backlog,
            next_seq: st.next_seq,
            last: st.last,
            status: st.status.clone(),
            needs_history,
        }
    }

    /// How many subscribers a batch published now would reach.
    pub(crate) fn subscriber_count(&self) -> usize {
        self.lock().subs.len()
    }

    pub(crate) fn unregister(&self, sub_id: u64) {
        self.lock().subs.remove(&sub_id);
    }

    pub(crate) fn set_status(&self, status: RunStatus) {
        let mut st = self.lock();
        if st.status != status {
            st.status = status.clone();
            for q in st.subs.values() {
                q.push(HubEvent::Status(status.clone()));
            }
        }
    }

    /// The container was renamed: every subscriber learns it in order with
    /// the lines, and the shared renderings (which carry the name) go.
    pub(crate) fn rename(&self, name: String) {
        let mut st = self.lock();
        if st.name == name {
            return;
        }
        st.name = name.clone();
        for b in &st.ring {
            b.rendered.forget();
        }
        for q in st.subs.values() {
            q.push(HubEvent::Renamed(name.clone()));
        }
    }

    pub(crate) fn last_cursor(&self) -> Option<Cursor> {
        self.lock().last
    }

    /// Publishes the lines not published before, in bounded batches.
    pub(crate) fn publish(&self, lines: Vec<Line>, cfg: &EngineConfig) {
        let mut st = self.lock();
        // Re-reads after a reconnect start at a whole second and overlap
        // what was published; within one read every line is new.
        let mut lines: Vec<Line> = lines
            .into_iter()
            .filter(|l| st.seen.insert_new(l.cursor))
            .collect();
        if lines.is_empty() {
            return;
        }
        self.lines_read.increment(lines.len() as u64);
        while !lines.is_empty() {
            let take = batch_len(&lines, cfg);
            let rest = lines.split_off(take);
            let batch = Arc::new(Batch::new(st.next_seq, lines));
            lines = rest;
            st.next_seq += batch.lines.len() as u64;
            st.last = batch.lines.last().map(|l| l.cursor);
            st.ring_lines += batch.lines.len();
            st.ring_bytes += batch.lines.iter().map(Line::weight).sum::<usize>();
            st.ring.push_back(batch.clone());
            if let Some(old) = st.ring.iter().rev().nth(RENDERINGS_KEPT) {
                old.rendered.forget();
            }
            trim_ring(&mut st, cfg);
            for q in st.subs.values() {
                q.push(HubEvent::Lines(batch.clone()));
            }
        }
    }
}

/// Batches of the ring whose shared rendering is kept (see
/// `batch::Rendered`): viewers in step send the newest, and a forwarder
/// that fell behind sends what queued as one event of its own anyway.
const RENDERINGS_KEPT: usize = 8;

/// How many of `lines` go into the next batch: at most `batch_max_lines`,
/// and at most `batch_max_bytes` of text unless one line alone is larger.
fn batch_len(lines: &[Line], cfg: &EngineConfig) -> usize {
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
    take
}

/// (batch, line) of the first of the last `n` lines of the ring.
fn tail_start(ring: &VecDeque<Arc<Batch>>, n: usize) -> (usize, usize) {
    let mut need = n;
    for (bi, batch) in ring.iter().enumerate().rev() {
        let len = batch.lines.len();
        if need <= len {
            return (bi, len - need);
        }
        need -= len;
    }
    (0, 0)
}

/// (batch, line) where a resume starts in the ring, if the ring surely
/// holds its start.
fn resume_start(ring: &VecDeque<Arc<Batch>>, r: Resume) -> Option<(usize, usize)> {
    let lines = || {
        ring.iter()
            .enumerate()
            .flat_map(|(bi, b)| b.lines.iter().enumerate().map(move |(li, l)| (bi, li, l)))
    };
    match r {
        Resume::After(mark) => {
            let mut finder = mark.finder();
            lines()
                .find(|(_, _, l)| finder.is_mark(&l.cursor))
                .map(|(bi, li, _)| (bi, li + 1))
        }
        Resume::Since(t) => {
            // Only when the ring starts clearly before `t`: a line of the
            // other stream stamped after `t` may sit a hair before the
            // ring's first line in Docker's order.
            let first = lines().next()?.2.cursor.ts_nanos;
            if first.saturating_add(REREAD_MARGIN_SECS * 1_000_000_000) >= t {
                return None;
            }
            Some(
                lines()
                    .find(|(_, _, l)| l.cursor.ts_nanos >= t)
                    .map_or((ring.len(), 0), |(bi, li, _)| (bi, li)),
            )
        }
    }
}

/// The ring from (batch, line) on, as slices of its batches.
fn slices_from(ring: &VecDeque<Arc<Batch>>, (bi, li): (usize, usize)) -> Vec<LineSlice> {
    ring.iter()
        .enumerate()
        .skip(bi)
        .filter_map(|(i, batch)| {
            let start = if i == bi { li } else { 0 };
            (start < batch.lines.len()).then(|| LineSlice {
                batch: batch.clone(),
                start,
            })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::{Mark, Stream};

    fn ring_of(batches: &[&[(i64, Stream)]]) -> VecDeque<Arc<Batch>> {
        let mut seq = 0;
        batches
            .iter()
            .map(|b| {
                let lines: Vec<Line> = b
                    .iter()
                    .map(|&(ts, stream)| Line {
                        cursor: Cursor::new(ts, stream, 0),
                        stream,
                        text: format!("{ts}"),
                        truncated: 0,
                    })
                    .collect();
                let batch = Arc::new(Batch::new(seq, lines));
                seq += b.len() as u64;
                batch
            })
            .collect()
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn the_ring_keeps_the_renderings_of_its_newest_batches_only() {
        let hub = Hub::new(crate::docker::ContainerInfo::for_tests("c"));
        let cfg = EngineConfig::default();
        for i in 0..20 {
            let line = Line {
                cursor: Cursor::new(i * S, Stream::Stdout, 0),
                stream: Stream::Stdout,
                text: format!("{i}"),
                truncated: 0,
            };
            hub.publish(vec![line], &cfg);
            // Every viewer in step renders the newest batch as it is sent.
            let newest = hub.lock().ring.back().cloned().expect("a batch");
            assert!(newest.rendered.get_or_init(|| i).is_some());
        }
        let st = hub.lock();
        let set: Vec<bool> = st.ring.iter().map(|b| b.rendered.is_set()).collect();
        assert_eq!(set.len(), 20);
        assert!(set[..20 - RENDERINGS_KEPT].iter().all(|s| !s), "{set:?}");
        assert!(set[20 - RENDERINGS_KEPT..].iter().all(|s| *s), "{set:?}");
    }

    #[test]
    fn tail_counts_back_over_batches() {
        let ring = ring_of(&[
            &[(1, Stream::Stdout), (2, Stream::Stdout)],
            &[(3, Stream::Stdout)],
        ]);
        assert_eq!(tail_start(&ring, 0), (1, 1));
        assert_eq!(tail_start(&ring, 1), (1, 0));
        assert_eq!(tail_start(&ring, 2), (0, 1));
        assert_eq!(tail_start(&ring, 99), (0, 0));
        assert!(slices_from(&ring, tail_start(&ring, 0)).is_empty());
    }

    #[test]
    fn a_resume_in_the_ring_is_found_by_position_only() {
        // stderr at 10 s + 5 ns comes before stdout at 10 s in Docker's order.
        let ring = ring_of(&[&[(10 * S + 5, Stream::Stderr), (10 * S, Stream::Stdout)]]);
        let mark = |ts, stream| Resume::After(Mark::Cursor(Cursor::new(ts, stream, 0)));
        assert_eq!(
            resume_start(&ring, mark(10 * S + 5, Stream::Stderr)),
            Some((0, 1))
        );
        assert_eq!(
            resume_start(&ring, mark(10 * S, Stream::Stdout)),
            Some((0, 2))
        );
        // Not in the ring, even though it sorts inside it: Docker decides.
        assert_eq!(resume_start(&ring, mark(10 * S + 1, Stream::Stdout)), None);
        // Since: only when the ring starts clearly before.
        assert_eq!(resume_start(&ring, Resume::Since(10 * S)), None);
        let ring = ring_of(&[&[(5 * S, Stream::Stdout), (10 * S, Stream::Stdout)]]);
        assert_eq!(resume_start(&ring, Resume::Since(10 * S)), Some((0, 1)));
        assert_eq!(resume_start(&ring, Resume::Since(11 * S)), Some((1, 0)));
    }
}
