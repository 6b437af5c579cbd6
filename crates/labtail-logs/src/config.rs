//! Limits of the log engine. Every bound labtail keeps in memory is here.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Longest line kept; the rest of a longer line is cut and counted.
    pub max_line_bytes: usize,
    /// Lines of backlog each watched container keeps in memory; also the
    /// largest `tail` a subscriber can ask for.
    pub backlog_lines: usize,
    /// Bytes of backlog each watched container keeps at most.
    pub backlog_bytes: usize,
    /// Most lines in one batch (one `container-log` event).
    pub batch_max_lines: usize,
    /// Most text bytes in one batch.
    pub batch_max_bytes: usize,
    /// The longest lines are gathered into one batch while a container is
    /// printing fast. The first line after a quiet moment goes out at once.
    pub batch_linger: Duration,
    /// Viewers of one container from which its batches are spaced by the
    /// whole `batch_linger`; with fewer, by `batch_linger × (n /
    /// linger_viewers)²`: one viewer gets each line as soon as it is read,
    /// many viewers get fewer, larger events (see `upstream::batch_interval`).
    /// 0 spaces every hub's batches by `batch_linger`.
    pub linger_viewers: u32,
    /// Lines a subscriber may fall behind the live stream before its oldest
    /// undelivered lines are dropped (and it is told so with a gap).
    pub subscriber_buffer_lines: usize,
    /// Text bytes a subscriber may fall behind, likewise.
    pub subscriber_buffer_bytes: usize,
    /// Most lines a resume (`after` / `since`) reads back from Docker beyond
    /// the in-memory backlog; older ones are reported as a gap.
    pub max_resume_lines: usize,
    /// How long a subscribe waits for a new upstream to deliver its backlog.
    pub subscribe_timeout: Duration,
    /// Longest pause between reconnect attempts to dockerd.
    pub reconnect_max_delay: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_line_bytes: 64 * 1024,
            backlog_lines: 1000,
            backlog_bytes: 4 * 1024 * 1024,
            batch_max_lines: 500,
            batch_max_bytes: 32 * 1024,
            batch_linger: Duration::from_millis(50),
            linger_viewers: 500,
            subscriber_buffer_lines: 20_000,
            subscriber_buffer_bytes: 8 * 1024 * 1024,
            max_resume_lines: 50_000,
            subscribe_timeout: Duration::from_secs(10),
            reconnect_max_delay: Duration::from_secs(5),
        }
    }
}
