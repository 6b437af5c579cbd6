//! History's metric names (Prometheus, through the `metrics` facade); the
//! server exports them. `docs/operations.md` lists them with what they mean.

/// Queries sent to the database for history, by `op`.
pub const DB_QUERIES: &str = "labtail_db_queries_total";
/// Lines recorded into history (each once).
pub const LINES_RECORDED: &str = "labtail_history_lines_recorded_total";
/// Bytes written to history (compressed, as stored; a chunk rewritten as
/// it grows counts each time).
pub const BYTES_WRITTEN: &str = "labtail_history_bytes_written_total";
/// Lines history could not record, by `reason` (`unknown` counts gaps whose
/// size Docker could not tell as 1).
pub const LINES_LOST: &str = "labtail_history_lines_lost_total";
/// Containers being recorded by this node.
pub const CONTAINERS_RECORDING: &str = "labtail_history_containers_recording";
/// 1 while this node holds the lease of a Docker engine, by `engine`.
pub const LEASE_HELD: &str = "labtail_history_lease_held";
/// Bytes pruned, by `reason` (`retention`, `total_cap`, `container_cap`, `purge`).
pub const PRUNED_BYTES: &str = "labtail_history_pruned_bytes_total";
/// Bytes history holds (as stored), as of the last retention pass.
pub const STORED_BYTES: &str = "labtail_history_stored_bytes";
/// Write batches that failed (the database was away), and were retried.
pub const WRITE_FAILURES: &str = "labtail_history_write_failures_total";
