//! One subscriber's bounded inbox, filled by the hub, drained by the
//! subscription.
//!
//! Pushing never waits: the hub pushes to every subscriber under its lock,
//! so one slow subscriber must cost the others nothing. When a queue holds
//! more than its bound (lines or bytes), its oldest batches go; the
//! subscription sees the hole in the sequence numbers and reports it as a
//! gap with the exact count. Status events are never dropped (they are rare
//! and small), and the newest batch is always kept, so a queue holds at
//! most its bound plus one batch.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::batch::HubEvent;

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

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, ev: HubEvent) {
        {
            let mut st = self.lock();
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

    /// The oldest event, waiting for one if there is none.
    pub(crate) async fn pop(&self) -> HubEvent {
        loop {
            if let Some(ev) = self.try_pop() {
                return ev;
            }
            // A push between the check and here leaves a permit: no lost wake-up.
            self.notify.notified().await;
        }
    }

    pub(crate) fn try_pop(&self) -> Option<HubEvent> {
        let mut st = self.lock();
        let ev = st.items.pop_front()?;
        if let HubEvent::Lines(b) = &ev {
            st.lines -= b.lines.len();
            st.bytes -= b.text_bytes();
        }
        Some(ev)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::batch::{Batch, RunStatus};
    use crate::line::{Cursor, Line, Stream};

    fn batch(first_seq: u64, n: usize) -> HubEvent {
        let lines = (0..n)
            .map(|i| Line {
                cursor: Cursor::new(first_seq as i64 + i as i64, Stream::Stdout, 0),
                stream: Stream::Stdout,
                text: "x".into(),
                truncated: 0,
            })
            .collect();
        HubEvent::Lines(Arc::new(Batch::new(first_seq, lines)))
    }

    #[test]
    fn over_its_bound_a_queue_drops_the_oldest_batches_but_never_the_newest_or_a_status() {
        let q = SubQueue::new(10, usize::MAX);
        q.push(batch(0, 4));
        q.push(HubEvent::Status(RunStatus::EngineDown));
        q.push(batch(4, 4));
        q.push(batch(8, 4)); // 12 lines: the first batch goes
        q.push(batch(12, 30)); // alone over the bound: kept, the rest goes
        let mut got = Vec::new();
        while let Some(ev) = q.try_pop() {
            got.push(match ev {
                HubEvent::Lines(b) => format!("lines {}", b.first_seq),
                HubEvent::Status(s) => format!("{s:?}"),
                HubEvent::Renamed(n) => format!("renamed {n}"),
            });
        }
        assert_eq!(got, ["EngineDown", "lines 12"]);
    }
}
