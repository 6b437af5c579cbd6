//! What each client event does. Every command re-reads the user (a removed
//! user or a new password fails at once, before the periodic re-check) and
//! takes its scope from the user row, never from the client.

use std::sync::Arc;
use std::time::Duration;

use labtail_logs::{Scope, StartAt, Subscription};
use serde::Serialize;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::ctx::SocketCtx;
use super::errors::{lookup_error, subscribe_error};
use super::forward::{self, WatchSpan};
use super::replay::{self, Replay};
use super::wait::{self, WaitPlan};
use crate::db::UserRow;
use crate::slots::Slot;
use crate::state::AppState;
use crate::wire::{
    ClientEvent, Code, ContainerState, DashboardAck, ListAck, StartAck, StartFrom, StartRequest,
    StopAck, StopDashboardAck, True, WireError,
};

/// What the worker does after it sent a command's answer.
pub(super) enum Then {
    Nothing,
    /// Send the latest dashboard snapshot (after a watch-dashboard ack).
    Snapshot,
    Stream(Subscription, WatchSpan, Option<Replay>),
    /// A removed container's history, replayed alone.
    Replay(Replay, WatchSpan),
    Wait(WaitPlan, Slot),
}

/// Runs one command; the answer to send, and what comes after it.
pub(super) async fn apply<A: Adapter>(
    s: &SocketRef<A>,
    ctx: &Arc<SocketCtx>,
    app: &AppState,
    ev: ClientEvent,
) -> Result<(Value, Then), WireError> {
    let (answer, then) = match ev {
        ClientEvent::Start(req) => start(ctx, app, req).await?,
        ClientEvent::Stop { container_name } => {
            let was_watching = ctx.stop_watch(&container_name);
            let ack = StopAck {
                ok: True,
                container_name,
                was_watching,
            };
            (to_value(ack)?, Then::Nothing)
        }
        ClientEvent::List => {
            let user = current_user(ctx, app).await?;
            let ack = ListAck {
                ok: True,
                containers: crate::listing::containers_for(app, user.role, &user.username).await?,
            };
            (to_value(ack)?, Then::Nothing)
        }
        ClientEvent::WatchDashboard => {
            let user = current_user(ctx, app).await?;
            if !user.role.is_staff() {
                return Err(WireError::new(
                    Code::Forbidden,
                    "the dashboard is for instructors",
                ));
            }
            // The scope is read afresh: the snapshot that follows is
            // narrowed to what the user may see now.
            let access = crate::access::access_of(&app.db, user.role, &user.username)
                .await
                .map_err(WireError::internal)?;
            let opened = ctx.join_dashboard();
            crate::staff::place(s, access.scope, true);
            if opened {
                app.dashboard
                    .add_viewer(|| crate::dashboard::spawn_feed(app));
            }
            (to_value(DashboardAck { ok: True })?, Then::Snapshot)
        }
        ClientEvent::Attention { id, dismiss } => {
            let user = current_user(ctx, app).await?;
            let v = super::attention::set_state(app, &user, id, dismiss).await?;
            (v, Then::Nothing)
        }
        ClientEvent::RaiseHand(req) => {
            let user = current_user(ctx, app).await?;
            (
                super::attention::raise_hand(app, &user, req).await?,
                Then::Nothing,
            )
        }
        ClientEvent::AnswerHand { id, message } => {
            let user = current_user(ctx, app).await?;
            let v = super::attention::answer_hand(app, &user, id, message).await?;
            (v, Then::Nothing)
        }
        ClientEvent::StopDashboard => {
            let was_watching = ctx.leave_dashboard();
            if was_watching {
                crate::staff::leave_dashboard(s);
                app.dashboard.remove_viewer();
            }
            let ack = StopDashboardAck {
                ok: True,
                was_watching,
            };
            (to_value(ack)?, Then::Nothing)
        }
    };
    Ok((answer, then))
}

/// Runs what follows an answer.
pub(super) async fn after_ack<A: Adapter>(
    s: &SocketRef<A>,
    ctx: &Arc<SocketCtx>,
    app: &AppState,
    then: Then,
) {
    match then {
        Then::Nothing => {}
        Then::Snapshot => {
            let snapshot = app.dashboard.latest().and_then(|d| {
                crate::staff::scope_of(s).map(|scope| crate::dashboard::narrow(&d, &scope))
            });
            if let Some(snapshot) = snapshot {
                super::emit::emit(s, crate::wire::names::DASHBOARD, &snapshot).await;
            }
        }
        Then::Stream(sub, span, replay) => forward::spawn(s, ctx, sub, span, replay),
        Then::Replay(replay, span) => forward::spawn_replay(s, ctx, replay, span),
        Then::Wait(plan, slot) => wait::spawn(s, ctx, app, plan, slot),
    }
}

fn to_value(ack: impl Serialize) -> Result<Value, WireError> {
    serde_json::to_value(ack).map_err(WireError::internal)
}

/// Re-reads the user: a removed user or changed password fails here even if
/// the periodic check has not run yet.
async fn current_user(ctx: &SocketCtx, app: &AppState) -> Result<UserRow, WireError> {
    let user = app
        .db
        .user_by_id(ctx.ident.user_id)
        .await
        .map_err(WireError::internal)?;
    match user {
        Some(u) if u.auth_hash() == ctx.ident.auth_hash => Ok(u),
        _ => Err(WireError::new(
            Code::Unauthenticated,
            "your session has ended; log in again",
        )),
    }
}

/// Where the engine should start, and the `tail` the ack reports.
fn start_at(from: &StartFrom, max_tail: u64) -> (StartAt, Option<u64>) {
    match *from {
        StartFrom::Tail(n) => {
            let n = n.min(max_tail);
            (StartAt::Tail(n as usize), Some(n))
        }
        StartFrom::After(m) => (StartAt::After(m), None),
        StartFrom::Since(t) => (StartAt::Since(t), None),
    }
}

async fn start(
    ctx: &SocketCtx,
    app: &AppState,
    req: StartRequest,
) -> Result<(Value, Then), WireError> {
    let user = current_user(ctx, app).await?;
    let scope = crate::access::access_of(&app.db, user.role, &user.username)
        .await
        .map_err(WireError::internal)?
        .scope;
    let max_tail = app.engine.config().backlog_lines as u64;
    let (at, tail) = start_at(&req.from, max_tail);
    let found = match app.engine.find(&scope, &req.container_name).await {
        Ok(f) => f,
        // Docker away: history can still answer for what it holds.
        Err(e) if app.history.is_none() || !e.is_unreachable() => return Err(lookup_error(e)),
        Err(_) => None,
    };
    let Some(container) = found else {
        if let Some(watch) = start_from_history(ctx, app, &user, &req, tail).await? {
            return Ok(watch);
        }
        return start_waiting(ctx, app, &user, req, scope, at);
    };
    if ctx.watches_container(&container.id) {
        let ack = StartAck {
            ok: True,
            container_name: container.name,
            state: None,
            tail: None,
            wait: None,
            already_watching: Some(true),
        };
        return Ok((to_value(ack)?, Then::Nothing));
    }
    let slot = take_slot(ctx, app, &user)?;
    // History first where it has the lines asked for (a resume older than
    // Docker still holds, a `since` far back), then live from its last line.
    let (at, replay) = match history_plan(app, &container, &req.from).await? {
        Some((replay, Some(live))) => (live, Some(replay)),
        _ => (at, None),
    };
    let sub = app
        .engine
        .subscribe(&container, at)
        .await
        .map_err(subscribe_error)?;
    let span = WatchSpan::open(app, ctx, slot, &container).await;
    let ack = StartAck {
        ok: True,
        container_name: container.name.clone(),
        state: Some(ContainerState::from(sub.status())),
        tail,
        wait: None,
        already_watching: None,
    };
    Ok((to_value(ack)?, Then::Stream(sub, span, replay)))
}

/// What history replays before a live container's lines, if anything.
async fn history_plan(
    app: &AppState,
    container: &labtail_logs::ContainerInfo,
    from: &StartFrom,
) -> Result<Option<(Replay, Option<StartAt>)>, WireError> {
    let Some(h) = &app.history else {
        return Ok(None);
    };
    let row = match h.store.container_by_docker_id(container.id.as_str()).await {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(None),
        Err(e) => {
            // History away: live alone, as without history.
            tracing::warn!(error = %e, "history unavailable for a watch");
            return Ok(None);
        }
    };
    replay::plan(
        &h.reader,
        &row,
        from,
        true,
        app.engine.config().backlog_lines as u64,
        app.engine.config().max_resume_lines as i64,
    )
    .await
}

/// A container Docker does not list (removed, or on an engine that is
/// away) that history holds: its history, replayed; `None` if history does
/// not hold one the user may see (then it is waited for, or refused, as
/// any container that is not there).
async fn start_from_history(
    ctx: &SocketCtx,
    app: &AppState,
    user: &UserRow,
    req: &StartRequest,
    tail: Option<u64>,
) -> Result<Option<(Value, Then)>, WireError> {
    let Some(h) = &app.history else {
        return Ok(None);
    };
    let who = crate::access::access_of(&app.db, user.role, &user.username)
        .await
        .map_err(WireError::internal)?
        .visible;
    let row = match h.find(&who, &req.container_name).await {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(None),
        Err(e) => return Err(WireError::internal(e)),
    };
    let planned = replay::plan(
        &h.reader,
        &row,
        &req.from,
        false,
        app.engine.config().backlog_lines as u64,
        app.engine.config().max_resume_lines as i64,
    )
    .await?;
    let replay = planned.map(|(r, _)| r).unwrap_or_else(|| Replay {
        row: row.clone(),
        from: row.lines,
        to: row.lines,
        gap: None,
    });
    let slot = take_slot(ctx, app, user)?;
    let span = WatchSpan::open_named(app, ctx, slot, &row.name, None, Some(&row.owner)).await;
    let ack = StartAck {
        ok: True,
        container_name: row.name.clone(),
        state: Some(ContainerState::Removed),
        tail,
        wait: None,
        already_watching: None,
    };
    Ok(Some((to_value(ack)?, Then::Replay(replay, span))))
}

/// A container not (yet) in the user's scope: refused, or with `wait`,
/// waited for. Waiting answers the same for "not created yet" and "not
/// yours": both wait, both end with reason `not-found` at the deadline.
fn start_waiting(
    ctx: &SocketCtx,
    app: &AppState,
    user: &UserRow,
    req: StartRequest,
    scope: Scope,
    at: StartAt,
) -> Result<(Value, Then), WireError> {
    if req.wait_secs == 0 {
        return Err(WireError::forbidden_or_missing());
    }
    let slot = take_slot(ctx, app, user)?;
    let secs = req.wait_secs.min(app.cfg.max_wait.as_secs());
    let ack = StartAck {
        ok: True,
        container_name: req.container_name.clone(),
        state: Some(ContainerState::Waiting),
        tail: None,
        wait: Some(secs),
        already_watching: None,
    };
    let plan = WaitPlan {
        name: req.container_name,
        scope,
        at,
        until: tokio::time::Instant::now() + Duration::from_secs(secs),
    };
    Ok((to_value(ack)?, Then::Wait(plan, slot)))
}

/// One of the user's stream slots, within the socket's and the user's limits.
fn take_slot(ctx: &SocketCtx, app: &AppState, user: &UserRow) -> Result<Slot, WireError> {
    if ctx.watch_count() >= app.cfg.max_streams_per_socket {
        metrics::counter!(crate::metrics::LIMIT_HITS, "limit" => "streams_per_socket").increment(1);
        return Err(WireError::new(
            Code::TooManyStreams,
            format!(
                "a socket may watch at most {} containers; stop one first",
                app.cfg.max_streams_per_socket
            ),
        ));
    }
    app.take_stream_slot(user.id).ok_or_else(|| {
        metrics::counter!(crate::metrics::LIMIT_HITS, "limit" => "streams_per_user").increment(1);
        WireError::new(
            Code::TooManyStreams,
            format!(
                "you may watch at most {} containers at once over all your tabs; stop one first",
                app.cfg.max_streams_per_user
            ),
        )
    })
}
