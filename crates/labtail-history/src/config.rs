//! History's limits. Every bound it keeps, in memory or on disk, and every
//! bound on a query a user can shape, is a field here with a flag.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct HistoryConfig {
    /// Record lab containers at all.
    pub enabled: bool,
    /// Raw (uncompressed) bytes of lines in a chunk before it is sealed.
    pub chunk_bytes: usize,
    /// How long recorded lines may wait in memory before they are written
    /// (the newest chunk is rewritten as it grows).
    pub flush_interval: Duration,
    /// zstd level of sealed chunks (the growing one is written at level 1).
    pub level: i32,
    /// What a recorder may fall behind on one container while the
    /// database is slow or away, in lines and bytes; beyond it, lines wait
    /// in Docker's log and are read back (or, if gone, counted as a gap).
    pub buffer_lines: usize,
    pub buffer_bytes: usize,
    /// Keep a container's history this long after it ended.
    pub retention: Duration,
    /// Total bytes history may hold (as stored); oldest chunks go first. 0: no cap.
    pub max_bytes: u64,
    /// Bytes one container's history may hold; its oldest chunks go first. 0: no cap.
    pub max_container_bytes: u64,
    /// How often retention runs.
    pub prune_interval: Duration,
    /// A recorder's lease on a Docker engine: another node takes over this
    /// long after the holder stopped renewing.
    pub lease: Duration,
    /// Longest a search may run before it returns what it found so far.
    pub search_budget: Duration,
    /// Most hits one search returns.
    pub max_hits: usize,
    /// Most lines one page of history holds.
    pub max_page_lines: usize,
    /// Longest pattern a search accepts, in bytes.
    pub max_pattern: usize,
    /// Bound on a compiled regex (the regex crate's size limit), in bytes.
    pub regex_size_limit: usize,
    /// Largest chunk (uncompressed) history reads back: a damaged size
    /// field cannot make it allocate more.
    pub max_chunk_raw: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            chunk_bytes: 256 * 1024,
            flush_interval: Duration::from_secs(2),
            level: 9,
            buffer_lines: 20_000,
            buffer_bytes: 2 * 1024 * 1024,
            retention: Duration::from_secs(30 * 24 * 3600),
            max_bytes: 0,
            max_container_bytes: 256 * 1024 * 1024,
            prune_interval: Duration::from_secs(300),
            lease: Duration::from_secs(10),
            search_budget: Duration::from_secs(1),
            max_hits: 1000,
            max_page_lines: 5000,
            max_pattern: 1024,
            regex_size_limit: 1024 * 1024,
            max_chunk_raw: 16 * 1024 * 1024,
        }
    }
}
