//! labtail's lab history: every line a lab container wrote, kept after it is
//! gone, read back, searched and exported.
//!
//! Knows the log engine (`labtail-logs`: lines, cursors, subscriptions) and
//! the database; knows nothing of Socket.IO or HTTP. The path of a line:
//!
//! ```text
//! LogEngine (one hub per container) ──subscription──▶ recorder
//!   ──▶ chunk (columns, zstd) ──▶ writer (one transaction, under the
//!   engine's lease) ──▶ history_chunks
//! ```
//!
//! Modules, each using only those above it: `metrics`, `config`,
//! `observer` → `chunk` → `store` → `read`, `search`, `export`, `retention`
//! → `recorder`. An [`Observer`] (the server's attention) sees each line as
//! it is recorded.

pub mod chunk;
pub mod config;
pub mod export;
pub mod metrics;
pub mod observer;
pub mod read;
pub mod recorder;
pub mod retention;
pub mod search;
pub mod store;

pub use config::HistoryConfig;
pub use observer::{Lifecycle, Observer};
pub use read::{Anchor, Numbered, Page, ReadError, Reader};
pub use recorder::{Recorder, Recorders};
pub use search::{Found, Hit, Query, SearchError};
pub use store::{BeginWrite, ContainerRow, EventRow, Pool, Store, StoreError, Visible};
