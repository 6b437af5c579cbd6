//! `start-container-logs` with `wait`: a watch of a container that is not
//! there yet (or not the user's: the two look alike). It waits, bounded,
//! for the container to appear in the user's scope, then streams it like
//! any other; until then it is registered as `WatchKey::Waiting(name)`, so
//! `stop-container-logs` cancels it.

use std::sync::{Arc, Weak};

use labtail_logs::{Action, Scope, StartAt, WatchEvent};
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use tokio::sync::broadcast::error::RecvError;

use super::ctx::{SocketCtx, WatchKey, Whose};
use super::emit;
use super::errors::subscribe_error;
use super::forward::{self, WatchSpan};
use crate::slots::Slot;
use crate::state::AppState;
use crate::wire::{Code, ContainerState, ContainerStatus, EndReason, names};

/// A container asked for with `wait` that is not (yet) in the user's scope.
pub(super) struct WaitPlan {
    pub name: String,
    pub scope: Scope,
    pub at: StartAt,
    pub until: tokio::time::Instant,
}

pub(super) fn spawn<A: Adapter>(
    s: &SocketRef<A>,
    ctx: &Arc<SocketCtx>,
    app: &AppState,
    plan: WaitPlan,
    slot: Slot,
) {
    let key = WatchKey::Waiting(plan.name.clone());
    let name = plan.name.clone();
    let task = wait_then_forward(
        s.clone(),
        Arc::downgrade(ctx),
        app.clone(),
        plan,
        slot,
        key.clone(),
    );
    // Whose it is is known once it appears (`promote_wait`).
    ctx.spawn_watch(key, name, Whose::default(), task);
}

async fn wait_then_forward<A: Adapter>(
    s: SocketRef<A>,
    ctx: Weak<SocketCtx>,
    app: AppState,
    plan: WaitPlan,
    slot: Slot,
    key: WatchKey,
) {
    let forget = |ctx: &Weak<SocketCtx>| {
        if let Some(ctx) = ctx.upgrade() {
            ctx.forget_watch(&key);
        }
    };
    let Some(container) = appears(&app, &plan).await else {
        let _ = emit::send_end(&s, &plan.name, EndReason::NotFound, None).await;
        forget(&ctx);
        return;
    };
    let sub = match app.engine.subscribe(&container, plan.at).await {
        Ok(sub) => sub,
        Err(e) => {
            let reason = match subscribe_error(e).code {
                Code::ForbiddenOrMissing => EndReason::NotFound,
                _ => EndReason::Unavailable,
            };
            let _ = emit::send_end(&s, &plan.name, reason, None).await;
            forget(&ctx);
            return;
        }
    };
    // From here on it is an ordinary watch, keyed by the container's ID.
    let Some(c) = ctx.upgrade() else {
        return;
    };
    if !c.promote_wait(
        &key,
        container.id.clone(),
        container.name.clone(),
        Whose::of(&container),
    ) {
        return;
    }
    let status = ContainerStatus {
        container_name: container.name.clone(),
        state: ContainerState::from(sub.status()),
        exit_code: None,
        requested_name: (plan.name != container.name).then(|| plan.name.clone()),
    };
    if !emit::emit(&s, names::CONTAINER_STATUS, &status).await {
        return;
    }
    let span = WatchSpan::open(&app, &c, slot, &container).await;
    drop(c);
    forward::forward(s, ctx, sub, span, None).await;
}

/// The container, once it is in scope; `None` at the deadline.
async fn appears(app: &AppState, plan: &WaitPlan) -> Option<labtail_logs::ContainerInfo> {
    let mut events = app.engine.container_events();
    loop {
        // Look after subscribing to events, so a creation in between is seen.
        if let Ok(Some(c)) = app.engine.find(&plan.scope, &plan.name).await {
            return Some(c);
        }
        let woke = loop {
            tokio::select! {
                _ = tokio::time::sleep_until(plan.until) => break false,
                ev = events.recv() => match ev {
                    Ok(WatchEvent::Container(e))
                        if matches!(e.action, Action::Create | Action::Start | Action::Rename) => break true,
                    Ok(WatchEvent::Resync) | Err(RecvError::Lagged(_)) => break true,
                    Err(RecvError::Closed) => break false,
                    Ok(_) => {}
                },
            }
        };
        if !woke {
            return None;
        }
    }
}
