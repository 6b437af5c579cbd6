//! The engine's metric names (Prometheus, through the `metrics` facade),
//! in one place; the server exports them. `docs/operations.md` lists them
//! all with what they mean.

/// Requests labtail sent to dockerd, by `call` (list, inspect, logs, events, ping).
pub const DOCKER_REQUESTS: &str = "labtail_docker_requests_total";
/// 1 while the Docker engine answers, 0 otherwise.
pub const DOCKER_ENGINE_UP: &str = "labtail_docker_engine_up";
/// Follow streams open to dockerd (one per watched container and node).
pub const UPSTREAM_STREAMS_OPEN: &str = "labtail_upstream_streams_open";
/// Lines read from Docker and published (each once, however many watch).
pub const LINES_READ: &str = "labtail_lines_read_total";
/// Lines a subscriber did not get, by `reason` (`slow_client`, `resume_limit`).
pub const LINES_DROPPED: &str = "labtail_lines_dropped_total";

/// Runs whose exit was heard only after lines of the next run were
/// published (dockerd's follow stream of the old run outran its event
/// stream); each is a status told after lines it should precede.
pub const STATUS_LATE: &str = "labtail_status_late_total";

/// Adds one to a gauge while alive: the gauge stays right on every exit
/// path, panics and aborted tasks included.
#[derive(Debug)]
pub struct GaugeGuard(&'static str);

impl GaugeGuard {
    pub fn new(name: &'static str) -> Self {
        metrics::gauge!(name).increment(1.0);
        GaugeGuard(name)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}
