//! One watch: a forwarder task per (socket, container) turns the engine's
//! deliveries into `container-log`, `container-log-gap`, `container-status`
//! and `container-log-end` events, in order.

use std::sync::{Arc, Weak};
use std::time::Duration;

use labtail_logs::metrics::GaugeGuard;
use labtail_logs::{ContainerInfo, Cursor, Delivery, DockerId, RunStatus, Subscription};
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};

use super::ctx::{SocketCtx, WatchKey};
use crate::slots::Slot;
use crate::state::AppState;
use crate::wire::{
    ContainerEnd, ContainerGap, ContainerLog, ContainerState, ContainerStatus, EndReason, names,
};

/// Held by a forwarder: the user's stream slot and the audit record of the
/// watch, both given back when the watch ends however it ends.
pub(super) struct WatchSpan {
    _slot: Slot,
    audit_id: Option<i64>,
    app: AppState,
    container_id: DockerId,
    username: String,
}

impl WatchSpan {
    /// Opens the audit record of a watch; it is closed when the span drops.
    pub(super) async fn open(
        app: &AppState,
        ctx: &SocketCtx,
        slot: Slot,
        container: &ContainerInfo,
    ) -> WatchSpan {
        let audit_id = crate::audit::record(
            app,
            crate::audit::Kind::Watch,
            &ctx.ident.username,
            ctx.ident.ip,
            Some(&container.name),
            None,
        )
        .await;
        WatchSpan {
            _slot: slot,
            audit_id,
            app: app.clone(),
            container_id: container.id.clone(),
            username: ctx.ident.username.clone(),
        }
    }
}

impl Drop for WatchSpan {
    fn drop(&mut self) {
        if let Some(id) = self.audit_id {
            let db = self.app.db.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = db.audit_end(id).await {
                        tracing::warn!(error = %e, "could not close the audit record");
                    }
                });
            }
        }
    }
}

/// Membership of a `watching:` room for the life of one watch: the rooms
/// say who watches what on every node (the dashboard's "watching" column).
struct WatchingRoom<A: Adapter> {
    s: SocketRef<A>,
    room: String,
}

impl<A: Adapter> WatchingRoom<A> {
    fn join(s: &SocketRef<A>, room: String) -> Self {
        s.join(room.clone());
        WatchingRoom { s: s.clone(), room }
    }
}

impl<A: Adapter> Drop for WatchingRoom<A> {
    fn drop(&mut self) {
        self.s.leave(std::mem::take(&mut self.room));
    }
}

/// Starts the forwarder of a new watch and registers it with the socket.
pub(super) fn spawn<A: Adapter>(
    s: &SocketRef<A>,
    ctx: &Arc<SocketCtx>,
    sub: Subscription,
    span: WatchSpan,
) {
    let key = WatchKey::Container(sub.container().id.clone());
    let name = sub.container().name.clone();
    ctx.spawn_watch(
        key,
        name,
        forward(s.clone(), Arc::downgrade(ctx), sub, span),
    );
}

/// Forwards a subscription until it ends or the socket goes away.
pub(super) async fn forward<A: Adapter>(
    s: SocketRef<A>,
    ctx: Weak<SocketCtx>,
    mut sub: Subscription,
    span: WatchSpan,
) {
    let _gauge = GaugeGuard::new(crate::metrics::WATCHES_ACTIVE);
    let _room = WatchingRoom::join(
        &s,
        crate::rooms::watching(&span.container_id, &span.username),
    );
    let name = sub.container().name.clone();
    let key = WatchKey::Container(sub.container().id.clone());
    let max_lines = span.app.cfg.engine.batch_max_lines;
    let max_bytes = span.app.cfg.engine.batch_max_bytes;
    // Looked up once per watch: the lookup hashes the name in the registry,
    // a measurable share of a 100-viewer fan-out's CPU when done per event.
    let emitted = metrics::counter!(crate::metrics::LINES_EMITTED);
    let mut carried = None;
    loop {
        let d = match carried.take() {
            Some(d) => d,
            None => match sub.next().await {
                Some(d) => d,
                None => break,
            },
        };
        let sent = match d {
            Delivery::Lines(first) => {
                // Batches that queued up while the last event was being
                // written go out as one event: the fewer events a slow
                // moment leaves, the sooner this viewer is caught up.
                // Within the documented bounds of one event.
                let text = |p: &labtail_logs::LineSlice| -> usize {
                    p.lines().iter().map(|l| l.text.len()).sum()
                };
                let mut n = first.lines().len();
                let mut bytes = text(&first);
                let mut parts = vec![first];
                loop {
                    match sub.try_next() {
                        Some(Delivery::Lines(more))
                            if n + more.lines().len() <= max_lines
                                && bytes + text(&more) <= max_bytes =>
                        {
                            n += more.lines().len();
                            bytes += text(&more);
                            parts.push(more);
                        }
                        Some(other) => {
                            carried = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                send_lines(&s, &name, &parts, &emitted).await
            }
            Delivery::Gap { from, to, count } => {
                let gap = ContainerGap {
                    container_name: name.clone(),
                    from: from.as_ref().map(Cursor::to_string),
                    to: to.as_ref().map(Cursor::to_string),
                    count,
                };
                emit(&s, names::CONTAINER_LOG_GAP, &gap).await
            }
            Delivery::Status(st) => send_status(&s, &name, &st, None).await,
        };
        if !sent {
            break;
        }
    }
    // The stream is over (container removed, or the socket went away):
    // forget the watch so the client can start it again.
    if let Some(ctx) = ctx.upgrade() {
        ctx.forget_watch(&key);
    }
}

async fn send_lines<A: Adapter>(
    s: &SocketRef<A>,
    name: &str,
    slices: &[labtail_logs::LineSlice],
    emitted: &metrics::Counter,
) -> bool {
    let parts: Vec<&[labtail_logs::Line]> = slices.iter().map(|p| p.lines()).collect();
    let count: usize = parts.iter().map(|p| p.len()).sum();
    let event = ContainerLog {
        container_name: name,
        parts: &parts,
    };
    // A whole batch sent alone is encoded once, by whichever of its
    // subscribers sends it first; the rest send those bytes. (Every
    // subscriber of a hub uses the hub's container name.)
    let single = match slices {
        [one] if one.is_whole() => Some(one),
        _ => None,
    };
    let shared = single.and_then(|slice| {
        // to_raw_value, not RawValue::from_string: the latter parses the
        // JSON again to check what serde_json just wrote.
        slice
            .batch
            .rendered
            .get_or_init(|| serde_json::value::to_raw_value(&event).ok())
    });
    let ok = match shared.as_deref() {
        Some(Some(raw)) => emit(s, names::CONTAINER_LOG, raw).await,
        _ => emit(s, names::CONTAINER_LOG, &event).await,
    };
    if ok {
        emitted.increment(count as u64);
    }
    ok
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
