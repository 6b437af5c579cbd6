//! What a staff socket (an instructor's or an admin's) may see decides the
//! rooms it is in, and so what it is sent.
//!
//! Sockets that see every lab container (admins; instructors while no
//! course exists) share one broadcast per event: `instructors` for
//! `container-update`, `dashboard` for snapshots. A socket limited to its
//! courses is in `instructors-by-course` (and `dashboard-by-course`) and
//! gets each event narrowed to its scope, computed once per distinct scope
//! and sent to it alone. There are few staff sockets, so the per-socket
//! path costs little; students' sockets never pass here (and carry no
//! [`StaffScope`]).
//!
//! A socket's scope is taken at the handshake, at each `watch-dashboard`
//! and at every session re-check (`session_check.rs`, which also ends the
//! watches it no longer covers: `socket/scope.rs`).

use std::sync::{Arc, Mutex};

use labtail_logs::Scope;
use serde::Serialize;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use crate::cluster::{Io, with_io};
use crate::rooms;

/// A staff socket's scope as of its last check: a socket extension.
#[derive(Debug)]
pub struct StaffScope(Mutex<Scope>);

impl StaffScope {
    pub fn get(&self) -> Scope {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The scope of a staff socket; `None` for a student's.
pub fn scope_of<A: Adapter>(s: &SocketRef<A>) -> Option<Scope> {
    s.extensions.get::<Arc<StaffScope>>().map(|sc| sc.get())
}

/// Records `scope` for a staff socket and puts it in the rooms that scope
/// and its dashboard call for (and out of the others).
pub fn place<A: Adapter>(s: &SocketRef<A>, scope: Scope, dashboard_open: bool) {
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
    match s.extensions.get::<Arc<StaffScope>>() {
        Some(held) => *held.0.lock().unwrap_or_else(|p| p.into_inner()) = scope,
        None => {
            s.extensions.insert(Arc::new(StaffScope(Mutex::new(scope))));
        }
    }
    s.leave(not_updates);
    s.join(updates);
    s.leave(not_dash);
    if dashboard_open {
        s.join(dash);
    } else {
        s.leave(dash);
    }
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
            let Some(scope) = scope_of(&s) else {
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
