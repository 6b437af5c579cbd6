//! Sending events to one socket: waiting while its outgoing buffer is
//! full (never slowing anyone else), and the events every kind of watch
//! sends (`container-log` in bounded batches, `container-status`,
//! `container-log-end`).

use std::time::Duration;

use labtail_logs::RunStatus;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};

use crate::wire::{ContainerEnd, ContainerLog, ContainerState, ContainerStatus, EndReason, names};

/// Sends lines (read from history) as `container-log` events within the
/// batch bounds; false if the socket went away.
pub(super) async fn send_lines_owned<A: Adapter>(
    s: &SocketRef<A>,
    name: &str,
    lines: Vec<labtail_logs::Line>,
    max_lines: usize,
    max_bytes: usize,
    emitted: &metrics::Counter,
) -> bool {
    let mut start = 0;
    while start < lines.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < lines.len() && end - start < max_lines.max(1) {
            let w = lines[end].text.len();
            if end > start && bytes + w > max_bytes {
                break;
            }
            bytes += w;
            end += 1;
        }
        let part = &lines[start..end];
        let event = ContainerLog {
            container_name: name,
            parts: &[part],
        };
        if !emit(s, names::CONTAINER_LOG, &event).await {
            return false;
        }
        emitted.increment(part.len() as u64);
        start = end;
    }
    true
}

/// `container-status`, and `container-log-end` when the status ends a run
/// (exited) or the watch (removed).
pub(super) async fn send_status<A: Adapter>(
    s: &SocketRef<A>,
    name: &str,
    st: &RunStatus,
    requested_name: Option<String>,
) -> bool {
    let exit_code = match st {
        RunStatus::Exited { exit_code } => *exit_code,
        _ => None,
    };
    let status = ContainerStatus {
        container_name: name.to_owned(),
        state: ContainerState::from(st),
        exit_code,
        requested_name,
    };
    let end = match st {
        RunStatus::Exited { .. } => Some(EndReason::Exited),
        RunStatus::Removed => Some(EndReason::Removed),
        RunStatus::Running | RunStatus::EngineDown => None,
    };
    let mut ok = emit(s, names::CONTAINER_STATUS, &status).await;
    if let Some(reason) = end {
        ok = ok && send_end(s, name, reason, exit_code).await;
    }
    ok
}

pub(super) async fn send_end<A: Adapter>(
    s: &SocketRef<A>,
    name: &str,
    reason: EndReason,
    exit_code: Option<i64>,
) -> bool {
    let end = ContainerEnd {
        container_name: name.to_owned(),
        reason,
        exit_code,
    };
    emit(s, names::CONTAINER_LOG_END, &end).await
}

/// Emits, waiting while the socket's outgoing buffer is full. Waiting here
/// never slows anyone else: meanwhile this subscription's own bounded queue
/// fills, and past its bound it drops its oldest lines (reported as a gap).
/// False when the socket is gone.
pub(super) async fn emit<T: serde::Serialize + ?Sized, A: Adapter>(
    s: &SocketRef<A>,
    event: &str,
    data: &T,
) -> bool {
    let mut delay = Duration::from_millis(1);
    loop {
        match s.emit(event, data) {
            Ok(()) => return true,
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                tokio::time::sleep(delay).await;
                // Short: the socket's writer drains its buffer in well under
                // a millisecond; a long sleep here is latency for this viewer.
                delay = (delay * 2).min(Duration::from_millis(5));
            }
            Err(SendError::Socket(SocketError::Closed)) => return false,
            Err(SendError::Serialize(e)) => {
                tracing::error!(error = %e, event, "cannot serialise event");
                return false;
            }
        }
    }
}
