//! Every knob of attention (the server's flags fill it).

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct AttentionConfig {
    pub enabled: bool,
    /// A restart loop: this many starts…
    pub restart_loop_starts: usize,
    /// …within this long.
    pub restart_loop_window: Duration,
    /// An error burst: at least this many error lines…
    pub burst_lines: usize,
    /// …within this long…
    pub burst_window: Duration,
    /// …and this many times the median of the rest of the lab.
    pub burst_factor: f64,
    /// Silent: a running container that wrote nothing for this long…
    pub silent_after: Duration,
    /// …while at least this share of its lab's running containers wrote.
    pub silent_active_share: f64,
    /// Entries (and lifecycle signals) older than this are not shown.
    pub window: Duration,
    /// Most entries an attention list holds.
    pub max_entries: usize,
    /// Lines of evidence kept with an entry.
    pub evidence_lines: usize,
    /// Labs: most rules and checkpoints each, longest pattern, largest
    /// compiled set.
    pub max_rules: usize,
    pub max_pattern: usize,
    pub regex_size_limit: usize,
    /// Findings waiting to be stored; beyond, new ones are dropped (and
    /// counted): evaluation never slows recording.
    pub queue: usize,
    /// How often time-based signals (silence, bursts) are evaluated.
    pub tick: Duration,
    /// Runaway: how often each running lab container's use is sampled
    /// (`docker stats`, one sample); zero turns sampling off.
    pub runaway_interval: Duration,
    /// …CPU at or above this share of its limit (its `--cpus`, else the
    /// machine's CPUs)…
    pub runaway_cpu: f64,
    /// …or memory at or above this share of its `--memory` limit…
    pub runaway_memory: f64,
    /// …in this many samples in a row.
    pub runaway_samples: usize,
    /// `stats` calls in flight to one engine at most.
    pub runaway_concurrency: usize,
    /// Containers sampled per round at most (the rest wait for the next).
    pub runaway_max_containers: usize,
}

impl Default for AttentionConfig {
    fn default() -> Self {
        AttentionConfig {
            enabled: true,
            restart_loop_starts: 3,
            restart_loop_window: Duration::from_secs(300),
            burst_lines: 20,
            burst_window: Duration::from_secs(30),
            burst_factor: 3.0,
            silent_after: Duration::from_secs(300),
            silent_active_share: 0.5,
            window: Duration::from_secs(24 * 3600),
            max_entries: 500,
            evidence_lines: 5,
            max_rules: 200,
            max_pattern: 1024,
            regex_size_limit: 4 * 1024 * 1024,
            queue: 10_000,
            tick: Duration::from_secs(5),
            runaway_interval: Duration::from_secs(15),
            runaway_cpu: 0.9,
            runaway_memory: 0.9,
            runaway_samples: 4,
            runaway_concurrency: 4,
            runaway_max_containers: 1000,
        }
    }
}
