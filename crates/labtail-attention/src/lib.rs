//! labtail's attention: who needs help now, and how far each student got.
//!
//! Knows the log engine's lines and lab history (whose recorder it
//! observes: each line once, on the node that records the engine, also the
//! lines of a catch-up); knows nothing of Socket.IO or HTTP. Modules, each
//! using only those above it:
//!
//! - `config`, `metrics`, `level` (a line's level), `entry` (signals,
//!   entries, findings);
//! - `labs` (rules and checkpoints, one `RegexSet` per lab and kind);
//! - `evaluate` (lines, steps, events and time in; findings out: pure);
//! - `store` (entries, checkpoints, labs in the database);
//! - `service` (the observer, the queue, the tasks);
//! - `sampler` (containers' CPU and memory against their limits, for
//!   the runaway signal).

pub mod config;
pub mod entry;
pub mod evaluate;
pub mod labs;
pub mod level;
pub mod metrics;
pub mod sampler;
pub mod service;
pub mod store;

pub use config::AttentionConfig;
pub use entry::{CheckpointState, Entry, EntryState, Evidence, Finding, Severity, Signal, Subject};
pub use labs::{CheckpointDef, LabDef, Labs, RuleDef};
pub use level::Level;
pub use service::{Attention, PutLabError};
pub use store::{Store, StoreError, StoredEntry};
