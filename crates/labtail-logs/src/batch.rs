//! What a hub publishes: batches of lines (shared by the ring and every
//! subscriber) and lifecycle changes.

use std::sync::Arc;

use crate::line::Line;

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

impl Batch {
    pub(crate) fn new(first_seq: u64, lines: Vec<Line>) -> Self {
        Batch {
            first_seq,
            lines,
            rendered: Rendered::default(),
        }
    }

    /// Sequence number of the last line. Batches are never empty.
    pub(crate) fn last_seq(&self) -> u64 {
        self.first_seq + self.lines.len() as u64 - 1
    }

    pub(crate) fn text_bytes(&self) -> usize {
        self.lines.iter().map(|l| l.text.len()).sum()
    }
}

/// A rendering of a whole batch, shared by every subscriber: a thousand
/// viewers of one container cost one encoding per batch, not a thousand.
/// The engine does not know the wire format, so the value is opaque here.
///
/// The hub forgets the renderings of all but its newest batches
/// ([`Rendered::forget`]): the encoded JSON is larger than the lines it
/// encodes, and a ring kept whole with its renderings held about twice
/// what `--backlog-bytes` allows. Whoever sends an older batch encodes it
/// again (a late joiner's backlog, a forwarder that fell behind).
#[derive(Default)]
pub struct Rendered(std::sync::Mutex<Option<Arc<dyn std::any::Any + Send + Sync>>>);

impl Rendered {
    /// The rendering, made by `make` if there is none. `None` if one of
    /// another type is stored.
    pub fn get_or_init<T: std::any::Any + Send + Sync>(
        &self,
        make: impl FnOnce() -> T,
    ) -> Option<Arc<T>> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let any = slot.get_or_insert_with(|| Arc::new(make())).clone();
        drop(slot);
        any.downcast::<T>().ok()
    }

    /// Drops the rendering (the hub keeps those of its newest batches).
    pub(crate) fn forget(&self) {
        let old = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(old);
    }

    #[cfg(test)]
    pub(crate) fn is_set(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.0.lock().map(|s| s.is_some()).unwrap_or(false);
        f.write_str(if set { "Rendered(..)" } else { "Rendered(-)" })
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

/// What a hub hands to each subscriber's queue.
#[derive(Debug, Clone)]
pub(crate) enum HubEvent {
    Lines(Arc<Batch>),
    Status(RunStatus),
    /// The container's name now (`docker rename`).
    Renamed(String),
}
