//! Prometheus metrics. Names are part of the operator contract: see
//! `docs/operations.md` before renaming one.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the process-wide recorder and describes every metric labtail
/// records, so `/metrics` lists them (at zero) from the start.
pub fn install() -> PrometheusHandle {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
    }
    describe();
    handle
}

fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(
        "labtail_sockets_connected",
        "Socket.IO sockets connected now"
    );
    describe_gauge!(
        "labtail_upstream_streams_open",
        "Follow streams open to dockerd now (one per watched container)"
    );
    describe_gauge!("labtail_docker_engine_up", "1 when dockerd answers");
    describe_gauge!(
        "labtail_watches_active",
        "Socket subscriptions to containers now"
    );
    describe_counter!("labtail_lines_read_total", "Lines read from dockerd");
    describe_counter!(
        "labtail_lines_emitted_total",
        "Lines sent to sockets (a line sent to 3 sockets counts 3)"
    );
    describe_counter!(
        "labtail_lines_dropped_total",
        "Lines not delivered to a socket, by reason"
    );
    describe_counter!("labtail_login_failures_total", "Failed logins");
    describe_counter!("labtail_logins_total", "Successful logins");
    describe_counter!(
        "labtail_socket_events_total",
        "Client events handled, by event and result code"
    );
    describe_counter!(
        "labtail_sockets_refused_total",
        "Socket connections refused, by reason"
    );
    describe_counter!(
        "labtail_docker_requests_total",
        "Requests labtail made to dockerd, by call"
    );
    describe_counter!(
        "labtail_limit_hits_total",
        "Requests refused by a limit, by limit"
    );
    describe_counter!(
        "labtail_acks_dropped_total",
        "Answers to a flooding client's excess events that could not be sent"
    );
    describe_counter!(
        "labtail_requests_refused_total",
        "HTTP requests refused before routing, by reason"
    );
    // Make the key series exist before the first event.
    metrics::gauge!("labtail_sockets_connected").set(0.0);
    metrics::gauge!("labtail_upstream_streams_open").set(0.0);
    metrics::gauge!("labtail_watches_active").set(0.0);
    metrics::counter!("labtail_lines_read_total").absolute(0);
    metrics::counter!("labtail_lines_emitted_total").absolute(0);
    metrics::counter!("labtail_lines_dropped_total", "reason" => "slow_client").absolute(0);
    metrics::counter!("labtail_login_failures_total").absolute(0);
}
