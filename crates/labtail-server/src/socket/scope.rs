//! What a staff socket (an instructor's or an admin's) may see decides the
//! rooms it is in, and so what it is sent.
//!
//! Sockets that see every lab container (admins; instructors while no
//! course exists) share one broadcast per event: `instructors` for
//! `container-update`, `dashboard` for snapshots. A socket limited to its
//! courses is in `instructors-by-course` (and `dashboard-by-course`) and
//! gets each event narrowed to its scope, computed once per distinct scope
//! and sent to it alone. There are few staff sockets, so the per-socket
//! path costs little; the students' sockets never pass here.
//!
//! A socket's scope is taken at the handshake and again at every session
//! re-check (`session_check.rs`), which also ends the watches it no longer
//! covers; a `watch-dashboard` takes it afresh too.

use labtail_logs::Scope;
use serde::Serialize;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::ctx::SocketCtx;
use crate::cluster::{Io, with_io};
use crate::rooms;
use crate::wire::EndReason;

/// Records `scope` for a staff socket and puts it in the rooms that scope
/// and its dashboard call for (and out of the others).
pub fn place<A: Adapter>(s: &SocketRef<A>, ctx: &SocketCtx, scope: Scope) {
    let all = matches!(scope, Scope::AllLabContainers);
    let (updates, not_updates) = if all {
        (rooms::INSTRUCTORS, rooms::INSTRUCTORS_BY_COURSE)
    } else {
        (rooms::INSTRUCTORS_BY_COURSE, rooms::INSTRUCTORS)
    };
    let (dash, not_dash) = if all {
        (rooms::DASHBOARD, rooms::DASHBOARD_BY_COURSE)
    } else {
        (rooms::DASHBOARD_BY_COURSE, rooms::DASHBOARD)
    };
    ctx.set_scope(scope);
    s.leave(not_updates);
    s.join(updates);
    s.leave(not_dash);
    if ctx.dashboard_open() {
        s.join(dash);
    } else {
        s.leave(dash);
    }
}

/// A staff socket's scope as read again (`session_check.rs`): placed anew
/// if it changed, and every watch it no longer covers ended with
/// `container-log-end {reason: "revoked"}`, sent once the watch's
/// forwarder has stopped, so after its last line. (Watches are checked
/// even when the scope looks unchanged: one may have been started under a
/// wider scope between two checks.)
pub fn rescope<A: Adapter>(s: &SocketRef<A>, ctx: &SocketCtx, scope: Scope) {
    let ended = ctx.end_watches_outside(&scope);
    if ctx.scope().as_ref() != Some(&scope) {
        place(s, ctx, scope);
    }
    if ended.is_empty() {
        return;
    }
    metrics::counter!(crate::metrics::WATCHES_REVOKED).increment(ended.len() as u64);
    tracing::info!(user = %ctx.ident.username, watches = ended.len(), "ending watches outside the user's courses");
    let s = s.clone();
    tokio::spawn(async move {
        for (name, task) in ended {
            // An aborted task stops at its next await; bounded, in case
            // the runtime is slow to get to it.
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
            while !task.is_finished() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            if !super::emit::send_end(&s, &name, EndReason::Revoked, None).await {
                return;
            }
        }
    });
}

/// Takes a socket out of both dashboard rooms (it closed the dashboard).
pub fn leave_dashboard<A: Adapter>(s: &SocketRef<A>) {
    s.leave([rooms::DASHBOARD, rooms::DASHBOARD_BY_COURSE]);
}

/// Which pair of rooms an event goes to.
#[derive(Debug, Clone, Copy)]
pub enum Audience {
    /// Lifecycle updates: every staff socket.
    Staff,
    /// Snapshots: the staff sockets with the dashboard open.
    Dashboard,
}

impl Audience {
    fn rooms(self) -> (&'static str, &'static str) {
        match self {
            Audience::Staff => (rooms::INSTRUCTORS, rooms::INSTRUCTORS_BY_COURSE),
            Audience::Dashboard => (rooms::DASHBOARD, rooms::DASHBOARD_BY_COURSE),
        }
    }
}

/// Sends `full` to this node's all-seeing sockets of `to` (one broadcast,
/// plus `also`, e.g. the owner's room), and to each course-limited one
/// what `narrow` makes of it for that socket's scope (nothing when it
/// gives `None`). Nothing goes through Redis: every node sends from its
/// own upstreams.
pub async fn emit_scoped<T: Serialize>(
    io: &Io,
    to: Audience,
    also: Option<String>,
    event: &str,
    full: &T,
    narrow: impl Fn(&Scope) -> Option<T>,
) {
    let (all, by_course) = to.rooms();
    let mut rooms = vec![all.to_owned()];
    rooms.extend(also.clone());
    io.emit_local(rooms, event, full).await;
    with_io!(io, io => {
        let Some(ns) = io.of("/") else {
            return;
        };
        // Several sockets of one instructor (tabs), or of instructors of
        // the same courses, share one narrowing.
        let mut made: Vec<(Scope, Option<T>)> = Vec::new();
        // A socket in `also` had the full event already.
        let sockets = match also {
            Some(also) => ns.local().within(by_course).except(also).sockets(),
            None => ns.local().within(by_course).sockets(),
        };
        for s in sockets {
            let Some(scope) = s.extensions.get::<std::sync::Arc<SocketCtx>>().and_then(|c| c.scope()) else {
                continue;
            };
            let i = match made.iter().position(|(sc, _)| *sc == scope) {
                Some(i) => i,
                None => {
                    let v = narrow(&scope);
                    made.push((scope, v));
                    made.len() - 1
                }
            };
            if let Some(v) = &made[i].1 {
                // Latest wins: a snapshot or update a full socket cannot
                // take now is superseded by the next one; waiting here
                // would hold up every other instructor.
                if let Err(e) = s.emit(event, v) {
                    tracing::debug!(event, error = %e, "could not send to a staff socket");
                }
            }
        }
    });
}
