//! One watch: a forwarder task per (socket, container) turns the engine's
//! deliveries into `container-log`, `container-log-gap`, `container-status`
//! and `container-log-end` events, in order.

use std::sync::{Arc, Weak};

use labtail_logs::metrics::GaugeGuard;
use labtail_logs::{ContainerInfo, Cursor, Delivery, DockerId, RunStatus, Subscription};
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::ctx::{SocketCtx, WatchKey, Whose};
use super::emit::{emit, send_status};
use super::replay::Replay;
use crate::slots::Slot;
use crate::state::AppState;
use crate::wire::{ContainerGap, ContainerLog, ContainerRenamed, names};

/// Held by a forwarder: the user's stream slot and the audit record of the
/// watch, both given back when the watch ends however it ends.
pub(super) struct WatchSpan {
    _slot: Slot,
    audit_id: Option<i64>,
    pub(super) app: AppState,
    /// A live container's ID (its `watching:` room); `None` for a replay
    /// of a removed container's history.
    container_id: Option<DockerId>,
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
        Self::open_named(app, ctx, slot, &container.name, Some(&container.id), None).await
    }

    /// [`WatchSpan::open`] by name; `owner` (a history replay's) is noted
    /// in the record when it is not the watcher.
    pub(super) async fn open_named(
        app: &AppState,
        ctx: &SocketCtx,
        slot: Slot,
        name: &str,
        id: Option<&DockerId>,
        owner: Option<&str>,
    ) -> WatchSpan {
        let detail = owner
            .filter(|o| *o != ctx.ident.username)
            .map(|o| format!("history of {o}"));
        let audit_id = crate::audit::record(
            app,
            crate::audit::Kind::Watch,
            &ctx.ident.username,
            ctx.ident.ip,
            Some(name),
            detail.as_deref(),
        )
        .await;
        WatchSpan {
            _slot: slot,
            audit_id,
            app: app.clone(),
            container_id: id.cloned(),
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
    replay: Option<Replay>,
) {
    let key = WatchKey::Container(sub.container().id.clone());
    let name = sub.name().to_owned();
    let whose = Whose::of(sub.container());
    ctx.spawn_watch(
        key,
        name,
        whose,
        forward(s.clone(), Arc::downgrade(ctx), sub, span, replay),
    );
}

/// Starts the replay of a removed container's history: its lines, then
/// `container-status {removed}` and `container-log-end {removed}`.
pub(super) fn spawn_replay<A: Adapter>(
    s: &SocketRef<A>,
    ctx: &Arc<SocketCtx>,
    replay: Replay,
    span: WatchSpan,
) {
    let key = WatchKey::History(replay.row.id);
    let name = replay.row.name.clone();
    let whose = Whose {
        owner: Some(replay.row.owner.clone()),
        course: replay.row.course.clone(),
    };
    let (s, weak) = (s.clone(), Arc::downgrade(ctx));
    ctx.spawn_watch(key.clone(), name.clone(), whose, async move {
        let _gauge = GaugeGuard::new(crate::metrics::WATCHES_ACTIVE);
        let app = span.app.clone();
        let emitted = metrics::counter!(crate::metrics::LINES_EMITTED);
        let sent = match &app.history {
            Some(h) => {
                super::replay::send(
                    &s,
                    &name,
                    &h.reader,
                    &replay,
                    app.cfg.engine.batch_max_lines,
                    app.cfg.engine.batch_max_bytes,
                    &emitted,
                )
                .await
            }
            None => true,
        };
        if sent {
            send_status(&s, &name, &RunStatus::Removed, None).await;
        }
        drop(span);
        if let Some(ctx) = weak.upgrade() {
            ctx.forget_watch(&key);
        }
    });
}

/// Forwards a subscription (after a replay of history, if any) until it
/// ends or the socket goes away.
pub(super) async fn forward<A: Adapter>(
    s: SocketRef<A>,
    ctx: Weak<SocketCtx>,
    mut sub: Subscription,
    span: WatchSpan,
    replay: Option<Replay>,
) {
    let _gauge = GaugeGuard::new(crate::metrics::WATCHES_ACTIVE);
    let _room = span
        .container_id
        .as_ref()
        .map(|id| WatchingRoom::join(&s, crate::rooms::watching(id, &span.username)));
    let mut name = sub.name().to_owned();
    let key = WatchKey::Container(sub.container().id.clone());
    let max_lines = span.app.cfg.engine.batch_max_lines;
    let max_bytes = span.app.cfg.engine.batch_max_bytes;
    // Looked up once per watch: the lookup hashes the name in the registry,
    // a measurable share of a 100-viewer fan-out's CPU when done per event.
    let emitted = metrics::counter!(crate::metrics::LINES_EMITTED);
    if let (Some(r), Some(h)) = (&replay, &span.app.history) {
        let sent =
            super::replay::send(&s, &name, &h.reader, r, max_lines, max_bytes, &emitted).await;
        if !sent {
            if let Some(ctx) = ctx.upgrade() {
                ctx.forget_watch(&key);
            }
            return;
        }
    }
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
            Delivery::Renamed(new) => {
                let renamed = ContainerRenamed {
                    container_name: std::mem::replace(&mut name, new.clone()),
                    new_name: new.clone(),
                };
                if let Some(ctx) = ctx.upgrade() {
                    ctx.rename_watch(&key, new);
                }
                emit(&s, names::CONTAINER_RENAMED, &renamed).await
            }
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
    // subscribers sends it first; the rest send those bytes. The encoding
    // carries the container's name: a subscriber that knows the container
    // by another name (it was renamed meanwhile) encodes its own.
    let single = match slices {
        [one] if one.is_whole() => Some(one),
        _ => None,
    };
    let shared = single.and_then(|slice| {
        // to_raw_value, not RawValue::from_string: the latter parses the
        // JSON again to check what serde_json just wrote.
        slice.batch.rendered.get_or_init(|| {
            (
                name.to_owned(),
                serde_json::value::to_raw_value(&event).ok(),
            )
        })
    });
    let ok = match shared.as_deref() {
        Some((named, Some(raw))) if named == name => emit(s, names::CONTAINER_LOG, raw).await,
        _ => emit(s, names::CONTAINER_LOG, &event).await,
    };
    if ok {
        emitted.increment(count as u64);
    }
    ok
}
