//! labtail's log engine.
//!
//! Knows Docker and nothing of Socket.IO. The path of a line through it:
//!
//! ```text
//! dockerd ──follow stream──▶ docker::DockerApi::logs      (frames, with timestamps)
//!         ──▶ frame::Framer          (frames → lines, cursor = ts + stream + ordinal)
//!         ──▶ upstream::follow       (re-reads cut at the exact line: reread)
//!         ──▶ hub::Hub::publish      (batch, ring backlog, every subscriber's queue)
//!         ──▶ subscription::Subscription::next   (per subscriber: backlog, live, gaps)
//! ```
//!
//! Modules, in the order they depend on each other (each uses only those
//! above it): `timefmt` → `line`, `config`, `metrics` → `frame` → `docker` → `events`,
//! `batch` → `queue` → `reread` → `hub`, `lifecycle` → `upstream`, `subscription` →
//! `engine` → `fleet`. One hub per watched container holds the only
//! upstream for it; see `ARCHITECTURE.md` at the repository root for the
//! invariants. This file is the crate's whole public API.

mod batch;
mod config;
mod docker;
mod engine;
mod events;
mod fleet;
mod frame;
mod hub;
mod lifecycle;
mod line;
pub mod metrics;
mod queue;
mod reread;
mod subscription;
mod timefmt;
mod upstream;

#[cfg(test)]
mod seam_tests;

pub use batch::{LineSlice, RunStatus};

/// The label whose value names a container's course, unless configured.
pub const DEFAULT_COURSE_LABEL: &str = "labtail.course";
/// The label whose value names a container's lab, unless configured.
pub const DEFAULT_LAB_LABEL: &str = "labtail.lab";
pub use config::EngineConfig;
pub use docker::{
    Action, BollardDocker, ContainerEvent, ContainerInfo, Courses, DEFAULT_DOCKER_HOST, Docker,
    DockerApi, DockerError, DockerId, Limits, LogFiles, ReadFrom, RunInfo, Scope, Usage, find,
};
#[cfg(any(test, feature = "scripted"))]
pub use docker::{Request, ScriptedDocker};
pub use engine::{LogEngine, StartAt, SubscribeError};
pub use events::{EngineState, WatchEvent};
pub use fleet::{Fleet, HostSpec, LabelKeys};
pub use frame::{Bytes, Frame, Framer};
pub use hub::StartError;
pub use line::{BadCursor, Cursor, Line, Mark, Stream};
pub use reread::After;
pub use subscription::{Delivery, Subscription};
pub use timefmt::{Text, format_rfc3339_nanos, parse_rfc3339_nanos};
