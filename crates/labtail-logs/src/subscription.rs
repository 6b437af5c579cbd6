//! One subscriber's view of a hub: the lines read back from Docker (when it
//! resumes from further back than the ring), its backlog, then the live
//! batches, with gaps accounted for exactly.
//!
//! Exactness: the backlog and the queue are taken in one step under the
//! hub's lock (`Hub::attach`), and live batches carry sequence numbers, so
//! a batch the queue dropped is a hole of known size, reported as a gap.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use crate::batch::{Batch, HubEvent, LineSlice, RunStatus};
use crate::docker::ContainerInfo;
use crate::hub::{Attachment, Hub, Lease};
use crate::line::{Cursor, Mark};
use crate::queue::SubQueue;
use crate::reread::{History, Resume};

/// What a subscriber is handed next, in order.
#[derive(Debug, Clone)]
pub enum Delivery {
    Lines(LineSlice),
    /// `count` lines between `from` (the last line delivered, if any) and
    /// `to` (the next line delivered) were not delivered: the subscriber fell
    /// too far behind, or asked to resume from further back than labtail
    /// still holds.
    Gap {
        from: Option<Cursor>,
        to: Option<Cursor>,
        count: Option<u64>,
    },
    Status(RunStatus),
    /// The container was renamed: this is its name from now on.
    Renamed(String),
}

pub struct Subscription {
    hub: Arc<Hub>,
    /// The container's name as this subscriber knows it.
    name: String,
    _lease: Lease,
    sub_id: u64,
    queue: Arc<SubQueue>,
    pending: VecDeque<Delivery>,
    next_seq: u64,
    last: Option<Cursor>,
    status: RunStatus,
    finished: bool,
    /// Cursors already delivered from a read-back, to drop from live batches.
    skip: Option<HashSet<Cursor>>,
}

/// Lines per delivery when handing out lines read back from Docker.
const HISTORY_CHUNK: usize = 500;

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("container", &self.hub.container.name)
            .field("next_seq", &self.next_seq)
            .finish()
    }
}

impl Subscription {
    /// `resume` is where a resuming subscriber asked to start. `history`
    /// holds the lines read back from Docker when the in-memory backlog did
    /// not reach back to the resume point; they come first, after a gap
    /// notice if some did not fit or the mark was not in Docker's log.
    pub(crate) fn new(
        hub: Arc<Hub>,
        lease: Lease,
        a: Attachment,
        resume: Option<Resume>,
        history: Option<History>,
    ) -> Self {
        let mut pending = VecDeque::new();
        let resumed_from = match resume {
            Some(Resume::After(m)) => Some(m),
            _ => None,
        };
        let mut last = resumed_from.and_then(|m| m.cursor());
        let mut skip = None;
        let mut backlog = a.backlog;
        if let Some(h) = history {
            if let (Some(Resume::Since(t)), false) = (resume, h.found) {
                // Nothing stamped `t` or later before the ring: the ring
                // holds where it starts.
                trim_before_time(&mut backlog, t);
            }
            if resumed_from.is_some() && !h.found {
                // The mark is in neither the ring nor Docker's log (rotated
                // away, another container of that name, made up): what
                // follows it is taken by cursor, and the client is told
                // that lines may be missing, how many is not known.
                if let Some(mark) = resumed_from {
                    trim_before(&mut backlog, &mark);
                }
                let to = h
                    .lines
                    .first()
                    .or_else(|| backlog.first().and_then(|s| s.lines().first()))
                    .map(|l| l.cursor);
                pending.push_back(Delivery::Gap {
                    from: last,
                    to,
                    count: None,
                });
            } else if h.dropped > 0 {
                pending.push_back(Delivery::Gap {
                    from: last,
                    to: h.lines.first().map(|l| l.cursor),
                    count: Some(h.dropped),
                });
            }
            // With an empty backlog, lines published after the attach may
            // also be in what was read back: skip those once.
            if backlog.is_empty() && !h.lines.is_empty() {
                skip = Some(h.lines.iter().map(|l| l.cursor).collect::<HashSet<_>>());
            }
            let mut lines = h.lines;
            while !lines.is_empty() {
                let rest = lines.split_off(lines.len().min(HISTORY_CHUNK));
                last = lines.last().map(|l| l.cursor).or(last);
                pending.push_back(Delivery::Lines(LineSlice {
                    batch: Arc::new(Batch::new(0, lines)),
                    start: 0,
                }));
                lines = rest;
            }
        }
        for slice in backlog {
            if let Some(l) = slice.lines().last() {
                last = Some(l.cursor);
            }
            pending.push_back(Delivery::Lines(slice));
        }
        let status = a.status.clone();
        if status != RunStatus::Running {
            pending.push_back(Delivery::Status(status.clone()));
        }
        Subscription {
            hub,
            name: a.name.clone(),
            _lease: lease,
            sub_id: a.sub_id,
            queue: a.queue,
            pending,
            next_seq: a.next_seq,
            last: last.or(a.last),
            status,
            finished: false,
            skip,
        }
    }

    pub fn container(&self) -> &ContainerInfo {
        &self.hub.container
    }

    /// The container's name as of the last delivery taken (a rename is a
    /// [`Delivery::Renamed`]); at first, its name when this subscriber
    /// attached.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The status when the subscription was made or last delivered.
    pub fn status(&self) -> &RunStatus {
        &self.status
    }

    /// The next delivery; `None` once the container is gone for good.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            if let Some(d) = self.pending.pop_front() {
                return Some(d);
            }
            if self.finished {
                return None;
            }
            let ev = self.queue.pop().await;
            self.absorb(ev);
        }
    }

    /// The next delivery if one is ready now, without waiting: what a
    /// forwarder that fell behind uses to send its queued batches as one.
    /// `None` says only that nothing is ready; [`Self::next`] tells the end.
    pub fn try_next(&mut self) -> Option<Delivery> {
        loop {
            if let Some(d) = self.pending.pop_front() {
                return Some(d);
            }
            if self.finished {
                return None;
            }
            let ev = self.queue.try_pop()?;
            self.absorb(ev);
        }
    }

    /// Turns one event of the hub into deliveries (none for a batch this
    /// subscriber already has).
    fn absorb(&mut self, ev: HubEvent) {
        match ev {
            HubEvent::Lines(batch) => {
                let last_seq = batch.last_seq();
                if last_seq < self.next_seq {
                    return;
                }
                let start = self.next_seq.saturating_sub(batch.first_seq) as usize;
                if batch.first_seq > self.next_seq {
                    let count = batch.first_seq - self.next_seq;
                    metrics::counter!(crate::metrics::LINES_DROPPED, "reason" => "slow_client")
                        .increment(count);
                    self.pending.push_back(Delivery::Gap {
                        from: self.last,
                        to: batch.lines.first().map(|l| l.cursor),
                        count: Some(count),
                    });
                }
                self.next_seq = last_seq + 1;
                let mut start = start;
                if let Some(skip) = &self.skip {
                    // Past the read-back once a line is not in it.
                    while start < batch.lines.len() && skip.contains(&batch.lines[start].cursor) {
                        start += 1;
                    }
                    if start < batch.lines.len() {
                        self.skip = None;
                    } else {
                        return;
                    }
                }
                self.last = batch.lines.last().map(|l| l.cursor);
                self.pending
                    .push_back(Delivery::Lines(LineSlice { batch, start }));
            }
            HubEvent::Status(s) => self.note_status(s),
            HubEvent::Renamed(name) => {
                if name != self.name {
                    self.name = name.clone();
                    self.pending.push_back(Delivery::Renamed(name));
                }
            }
        }
    }

    fn note_status(&mut self, s: RunStatus) {
        if s == RunStatus::Removed {
            self.finished = true;
        }
        if s != self.status {
            self.status = s.clone();
            self.pending.push_back(Delivery::Status(s));
        }
    }
}

/// Drops the backlog's lines up to the first one that sorts after `mark`.
fn trim_before(backlog: &mut Vec<LineSlice>, mark: &Mark) {
    trim_until(backlog, |l| mark.is_before(&l.cursor));
}

/// Drops the backlog's lines up to the first one stamped `t` or later.
fn trim_before_time(backlog: &mut Vec<LineSlice>, t: i64) {
    trim_until(backlog, |l| l.cursor.ts_nanos >= t);
}

/// Drops the backlog's lines before the first one for which `keep` holds.
fn trim_until(backlog: &mut Vec<LineSlice>, keep: impl Fn(&crate::line::Line) -> bool) {
    while let Some(first) = backlog.first_mut() {
        match first.lines().iter().position(&keep) {
            Some(i) => {
                first.start += i;
                return;
            }
            None => {
                backlog.remove(0);
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unregister(self.sub_id);
    }
}
