//! labtail's log engine.
//!
//! Knows Docker and nothing of Socket.IO. The path of a line through it:
//!
//! ```text
//! dockerd ──follow stream──▶ docker::DockerClient::logs   (frames, with timestamps)
//!         ──▶ frame::Framer         (frames → lines, cursor = Docker ts + ordinal)
//!         ──▶ hub::Hub::publish     (batch, ring backlog, broadcast)
//!         ──▶ subscription::Subscription::next   (per subscriber: backlog, live, gaps)
//! ```
//!
//! One [`hub`] per watched container holds the only upstream for it; see
//! `ARCHITECTURE.md` at the repository root for the invariants.

pub mod config;
pub mod docker;
pub mod engine;
pub mod events;
pub mod fleet;
pub mod frame;
pub mod hub;
pub mod line;
pub mod subscription;

pub use config::EngineConfig;
pub use docker::{ContainerInfo, DockerClient, DockerError, Scope};
pub use engine::{LogEngine, StartAt, SubscribeError};
pub use events::{EngineState, WatchEvent};
pub use fleet::{Fleet, HostSpec};
pub use hub::{LineSlice, RunStatus, StartError};
pub use line::{Cursor, Line, Stream};
pub use subscription::{Delivery, Subscription};
