//! One subscriber's view of a hub: its backlog, then the live batches, with
//! gaps accounted for exactly.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::docker::ContainerInfo;
use crate::engine::WatchGuard;
use crate::hub::{Attachment, Batch, History, Hub, HubEvent, LineSlice, RunStatus};
use crate::line::Cursor;

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
}

/// A subscriber's bounded inbox, filled by the hub, drained by
/// [`Subscription::next`]. When it holds more than its bound, the oldest
/// batches go; status events are never dropped (they are rare and small).
#[derive(Debug)]
pub(crate) struct SubQueue {
    state: Mutex<QueueState>,
    notify: Notify,
    max_lines: usize,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<HubEvent>,
    lines: usize,
    bytes: usize,
}

impl SubQueue {
    pub(crate) fn new(max_lines: usize, max_bytes: usize) -> Self {
        SubQueue {
            state: Mutex::new(QueueState::default()),
            notify: Notify::new(),
            max_lines: max_lines.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    pub(crate) fn push(&self, ev: HubEvent) {
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let HubEvent::Lines(b) = &ev {
                st.lines += b.lines.len();
                st.bytes += b.text_bytes();
            }
            st.items.push_back(ev);
            // Drop the oldest batches, but always keep the newest one.
            while st.lines > self.max_lines || st.bytes > self.max_bytes {
                let Some(i) = st
                    .items
                    .iter()
                    .position(|e| matches!(e, HubEvent::Lines(_)))
                else {
                    break;
                };
                if i + 1 == st.items.len() {
                    break;
                }
                if let Some(HubEvent::Lines(b)) = st.items.remove(i) {
                    st.lines -= b.lines.len();
                    st.bytes -= b.text_bytes();
                }
            }
        }
        self.notify.notify_one();
    }

    async fn pop(&self) -> HubEvent {
        loop {
            {
                let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(ev) = st.items.pop_front() {
                    if let HubEvent::Lines(b) = &ev {
                        st.lines -= b.lines.len();
                        st.bytes -= b.text_bytes();
                    }
                    return ev;
                }
            }
            // A push between the check and here leaves a permit: no lost wake-up.
            self.notify.notified().await;
        }
    }
}

pub struct Subscription {
    hub: Arc<Hub>,
    _guard: WatchGuard,
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
    /// `resumed_from` is the cursor a resuming subscriber gave. `history`
    /// holds the lines read back from Docker when the in-memory backlog did
    /// not reach back to the resume point; they come first, after a gap
    /// notice if some did not fit.
    pub(crate) fn new(
        hub: Arc<Hub>,
        guard: WatchGuard,
        a: Attachment,
        resumed_from: Option<Cursor>,
        history: Option<History>,
    ) -> Self {
        let mut pending = VecDeque::new();
        let mut last = resumed_from;
        let mut skip = None;
        if let Some(h) = history {
            if h.dropped > 0 {
                pending.push_back(Delivery::Gap {
                    from: resumed_from,
                    to: h.lines.first().map(|l| l.cursor),
                    count: Some(h.dropped),
                });
            }
            // With an empty backlog, lines published after the attach may
            // also be in what was read back: skip those once.
            if a.backlog.is_empty() && !h.lines.is_empty() {
                skip = Some(h.lines.iter().map(|l| l.cursor).collect::<HashSet<_>>());
            }
            let mut lines = h.lines;
            while !lines.is_empty() {
                let rest = lines.split_off(lines.len().min(HISTORY_CHUNK));
                last = lines.last().map(|l| l.cursor).or(last);
                pending.push_back(Delivery::Lines(LineSlice {
                    batch: Arc::new(Batch {
                        first_seq: 0,
                        lines,
                        rendered: Default::default(),
                    }),
                    start: 0,
                }));
                lines = rest;
            }
        }
        for slice in a.backlog {
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
            _guard: guard,
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
            match self.queue.pop().await {
                HubEvent::Lines(batch) => {
                    let last_seq = batch.last_seq();
                    if last_seq < self.next_seq {
                        continue;
                    }
                    let start = self.next_seq.saturating_sub(batch.first_seq) as usize;
                    if batch.first_seq > self.next_seq {
                        let count = batch.first_seq - self.next_seq;
                        metrics::counter!("labtail_lines_dropped_total", "reason" => "slow_client")
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
                        while start < batch.lines.len() && skip.contains(&batch.lines[start].cursor)
                        {
                            start += 1;
                        }
                        if start < batch.lines.len() {
                            self.skip = None;
                        } else {
                            continue;
                        }
                    }
                    self.last = batch.lines.last().map(|l| l.cursor);
                    self.pending
                        .push_back(Delivery::Lines(LineSlice { batch, start }));
                }
                HubEvent::Status(s) => self.note_status(s),
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

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unregister(self.sub_id);
    }
}
