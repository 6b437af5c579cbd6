//! What a recorder tells whoever evaluates the lines it records (the
//! server's attention): each line once, in order, as it is recorded — also
//! the lines of a catch-up after a restart — and the lifecycle it records.
//! Called only while this node records the engine (holds its lease), so
//! with several nodes each line is observed once.
//!
//! Calls are made in the recorder's own task: an observer must be quick
//! and never wait (hand slow work to a task of its own, bounded).

use labtail_logs::{ContainerEvent, ContainerInfo, Line};

/// A lifecycle step the recorder recorded, with Docker's time (ns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    Started { at: i64 },
    Exited { at: i64, exit_code: Option<i64> },
    Removed { at: i64 },
}

/// `engine` names the Docker engine (as `--docker-host` does) in each call.
pub trait Observer: Send + Sync + std::fmt::Debug + 'static {
    /// This node began (`true`) or stopped recording `engine`: what was
    /// observed of its containers is stale from now on.
    fn recording(&self, engine: &str, on: bool);
    /// Lines recorded for `c`, in its log's order.
    fn lines(&self, engine: &str, c: &ContainerInfo, lines: &[Line]);
    /// A lifecycle step recorded for `c`.
    fn lifecycle(&self, engine: &str, c: &ContainerInfo, step: &Lifecycle);
    /// A Docker event of a lab container of the engine being recorded
    /// (`oom`, health changes, starts: what lines and steps do not say).
    fn docker_event(&self, engine: &str, e: &ContainerEvent);
}
