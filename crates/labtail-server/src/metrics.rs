//! Prometheus metrics: every name labtail records, in one place. Names are
//! part of the operator contract: `docs/operations.md` lists each with what
//! it means; never rename one. The engine's own are in
//! `labtail_logs::metrics`.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub use labtail_logs::metrics::{
    DOCKER_ENGINE_UP, DOCKER_REQUESTS, GaugeGuard, LINES_DROPPED, LINES_READ, UPSTREAM_STREAMS_OPEN,
};

/// Socket.IO sockets connected now.
pub const SOCKETS_CONNECTED: &str = "labtail_sockets_connected";
/// Socket subscriptions to containers now.
pub const WATCHES_ACTIVE: &str = "labtail_watches_active";
/// Lines sent to sockets (a line sent to 3 sockets counts 3).
pub const LINES_EMITTED: &str = "labtail_lines_emitted_total";
pub const LOGINS: &str = "labtail_logins_total";
pub const LOGIN_FAILURES: &str = "labtail_login_failures_total";
/// Password checks computed (one argon2id verification each; an unknown
/// user costs one too, against a dummy hash).
pub const PASSWORD_CHECKS: &str = "labtail_password_checks_total";
/// Client events handled, by `event` and `result` (`ok` or an error code).
pub const SOCKET_EVENTS: &str = "labtail_socket_events_total";
/// Handshakes refused, by `reason`.
pub const SOCKETS_REFUSED: &str = "labtail_sockets_refused_total";
/// Requests refused by a limit, by `limit`.
pub const LIMIT_HITS: &str = "labtail_limit_hits_total";
/// Answers to a flooding client's excess events that could not be sent.
pub const ACKS_DROPPED: &str = "labtail_acks_dropped_total";
/// HTTP requests refused before routing, by `reason`.
pub const REQUESTS_REFUSED: &str = "labtail_requests_refused_total";
/// Cross-node operations (logout, who watches) that Redis failed or timed out.
pub const REDIS_ERRORS: &str = "labtail_redis_errors_total";
/// Watches ended because the user may no longer see the container.
pub const WATCHES_REVOKED: &str = "labtail_watches_revoked_total";
/// Attention's notifications, by `result` (`sent`, `failed`, `dropped`).
pub const NOTIFICATIONS: &str = "labtail_attention_notifications_total";
/// Sign-ins through the school's identity provider, by `result`.
pub const OIDC_LOGINS: &str = "labtail_oidc_logins_total";
/// Database queries run, by `op` (coalesced reads count once).
pub const DB_QUERIES: &str = "labtail_db_queries_total";

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
    describe_gauge!(SOCKETS_CONNECTED, "Socket.IO sockets connected now");
    describe_gauge!(
        UPSTREAM_STREAMS_OPEN,
        "Follow streams open to dockerd now (one per watched container)"
    );
    describe_gauge!(DOCKER_ENGINE_UP, "1 when dockerd answers");
    describe_gauge!(WATCHES_ACTIVE, "Socket subscriptions to containers now");
    describe_counter!(LINES_READ, "Lines read from dockerd");
    describe_counter!(
        LINES_EMITTED,
        "Lines sent to sockets (a line sent to 3 sockets counts 3)"
    );
    describe_counter!(LINES_DROPPED, "Lines not delivered to a socket, by reason");
    describe_counter!(LOGIN_FAILURES, "Failed logins");
    describe_counter!(LOGINS, "Successful logins");
    describe_counter!(
        PASSWORD_CHECKS,
        "Password checks computed (argon2id), unknown users included"
    );
    describe_counter!(
        SOCKET_EVENTS,
        "Client events handled, by event and result code"
    );
    describe_counter!(SOCKETS_REFUSED, "Socket connections refused, by reason");
    describe_counter!(DOCKER_REQUESTS, "Requests labtail made to dockerd, by call");
    describe_counter!(LIMIT_HITS, "Requests refused by a limit, by limit");
    describe_counter!(
        ACKS_DROPPED,
        "Answers to a flooding client's excess events that could not be sent"
    );
    describe_counter!(
        REQUESTS_REFUSED,
        "HTTP requests refused before routing, by reason"
    );
    describe_counter!(
        REDIS_ERRORS,
        "Cross-node operations that Redis failed or timed out"
    );
    describe_counter!(
        WATCHES_REVOKED,
        "Watches ended because their user may no longer see the container (courses changed)"
    );
    describe_counter!(
        NOTIFICATIONS,
        "Attention notifications to webhooks, by result (sent, failed, dropped)"
    );
    describe_counter!(
        OIDC_LOGINS,
        "Sign-ins through the identity provider, by result (ok or the error code)"
    );
    // Make the key series exist before the first event.
    metrics::gauge!(SOCKETS_CONNECTED).set(0.0);
    metrics::gauge!(UPSTREAM_STREAMS_OPEN).set(0.0);
    metrics::gauge!(WATCHES_ACTIVE).set(0.0);
    metrics::counter!(LINES_READ).absolute(0);
    metrics::counter!(LINES_EMITTED).absolute(0);
    metrics::counter!(LINES_DROPPED, "reason" => "slow_client").absolute(0);
    metrics::counter!(LOGIN_FAILURES).absolute(0);
    metrics::counter!(PASSWORD_CHECKS).absolute(0);
}
