//! Session policy for live sockets: a socket holds a snapshot of its
//! session, so the sessions that end elsewhere must end its sockets too.
//!
//! Every `--auth-recheck-interval` each socket of this node is checked: past
//! the session's maximum age, a removed user or a changed password (or
//! revoke) end it; with a database several nodes share, so does a session
//! that another node ended (a logout there). A logout on this node, and
//! with Redis on any node, ends the sockets at once (`cluster.rs`); this
//! sweep is the backstop. It also re-reads what each instructor may see
//! (their courses and students) and ends the watches they lost. Each
//! command also re-reads the user
//! (`socket::command`), so a removed user's next event fails at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use crate::db::Role;
use crate::socket::SocketCtx;
use crate::state::AppState;

/// Ends the sockets of users that were removed or whose password changed,
/// and (with a shared database) of sessions another node ended.
/// Runs every `auth_recheck_interval`; logout on this node is immediate.
pub async fn recheck_sockets(app: AppState) {
    let mut tick = tokio::time::interval(app.cfg.auth_recheck_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(io) = app.io() {
            crate::cluster::with_io!(io, io => {
                if let Some(ns) = io.of("/") {
                    sweep(&app, ns.local().sockets()).await;
                }
            });
        }
    }
}

/// One re-check of this node's sockets.
async fn sweep<A: Adapter>(app: &AppState, sockets: Vec<SocketRef<A>>) {
    let shared = app.db.is_shared();
    let mut by_user: HashMap<i64, Vec<(String, SocketRef<A>)>> = HashMap::new();
    let mut by_sid: HashMap<String, Vec<SocketRef<A>>> = HashMap::new();
    let max_age = app.cfg.session_max_age.as_secs() as i64;
    let now = crate::clock::now_secs();
    for s in sockets {
        if let Some(ctx) = s.extensions.get::<Arc<SocketCtx>>() {
            let id = &ctx.ident;
            if now - id.login_at > max_age {
                tracing::info!(user = %id.username, "ending socket of a session past its maximum age");
                let _ = s.disconnect();
                continue;
            }
            if shared {
                by_sid
                    .entry(id.session_id.clone())
                    .or_default()
                    .push(s.clone());
            }
            by_user
                .entry(id.user_id)
                .or_default()
                .push((id.auth_hash.clone(), s));
        }
    }
    check_shared_sessions(app, by_sid).await;
    if by_user.is_empty() {
        return;
    }
    let ids: Vec<i64> = by_user.keys().copied().collect();
    let current = match app.db.auth_hashes(&ids).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not re-check socket users");
            return;
        }
    };
    let mut staff: HashMap<(String, Role), Vec<SocketRef<A>>> = HashMap::new();
    for (uid, sockets) in by_user {
        for (hash, s) in sockets {
            if current.get(&uid) != Some(&hash) {
                tracing::info!(
                    user_id = uid,
                    "ending socket of removed user or old password"
                );
                let _ = s.disconnect();
            } else if let Some(ctx) = s.extensions.get::<Arc<SocketCtx>>()
                && ctx.ident.role.is_staff()
            {
                staff
                    .entry((ctx.ident.username.clone(), ctx.ident.role))
                    .or_default()
                    .push(s);
            }
        }
    }
    rescope_staff(app, staff).await;
}

/// Reads again what each staff user on this node may see, and narrows
/// their sockets to it (`socket/scope.rs`): an instructor who no longer
/// teaches a course, or whose student was dropped from it, stops seeing
/// those containers within one interval, on every node.
async fn rescope_staff<A: Adapter>(
    app: &AppState,
    staff: HashMap<(String, Role), Vec<SocketRef<A>>>,
) {
    for ((username, role), sockets) in staff {
        let access = match crate::access::access_of(&app.db, role, &username).await {
            Ok(a) => a,
            Err(e) => {
                // Keep the last scope; the next sweep tries again.
                tracing::warn!(error = %e, user = %username, "could not re-read an instructor's courses");
                continue;
            }
        };
        for s in sockets {
            if let Some(ctx) = s.extensions.get::<Arc<SocketCtx>>() {
                crate::socket::rescope(&s, &ctx, access.scope.clone());
            }
        }
    }
}

/// With a database several nodes share, a logout on another node deletes
/// the session there, and only the store says so: end its sockets here too.
/// A session with sockets open is in use, so it is kept from expiring, as an
/// HTTP request would keep it.
async fn check_shared_sessions<A: Adapter>(
    app: &AppState,
    by_sid: HashMap<String, Vec<SocketRef<A>>>,
) {
    if by_sid.is_empty() {
        return;
    }
    let ids: Vec<String> = by_sid.keys().cloned().collect();
    let live = match app.db.live_sessions(&ids).await {
        Ok(Some(live)) => live,
        Ok(None) => return,
        Err(e) => {
            // The database is away: keep streaming rather than end every
            // socket; the next sweep checks again.
            tracing::warn!(error = %e, "could not check sessions in the shared store");
            return;
        }
    };
    let now = crate::clock::now_secs();
    let idle = app.cfg.session_idle_timeout;
    let half = i64::try_from(idle.as_secs() / 2).unwrap_or(i64::MAX);
    for (sid, sockets) in by_sid {
        match live.get(&sid) {
            None => {
                tracing::info!(
                    sockets = sockets.len(),
                    "ending the sockets of a session that ended on another node"
                );
                for s in sockets {
                    let _ = s.disconnect();
                }
            }
            Some(&expiry) if expiry - now < half => keep_alive(app, &sid, idle).await,
            Some(_) => {}
        }
    }
}

async fn keep_alive(app: &AppState, sid: &str, idle: Duration) {
    use tower_sessions::SessionStore;
    let Ok(id) = sid.parse::<tower_sessions::session::Id>() else {
        return;
    };
    let record = match app.sessions.load(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not load a session to keep it alive");
            return;
        }
    };
    let mut record = record;
    record.expiry_date = time::OffsetDateTime::now_utc() + idle;
    if let Err(e) = app.sessions.save(&record).await {
        tracing::warn!(error = %e, "could not keep a session alive");
    }
}
