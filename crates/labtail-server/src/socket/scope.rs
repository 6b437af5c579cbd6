//! A staff socket's scope read again: the rooms follow it
//! (`crate::staff`), and the watches it no longer covers end.

use labtail_logs::Scope;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::ctx::SocketCtx;
use crate::wire::EndReason;

/// A staff socket's scope as read again (`session_check.rs`): placed anew
/// if it changed, and every watch it no longer covers ended with
/// `container-log-end {reason: "revoked"}`, sent once the watch's
/// forwarder has stopped, so after its last line. (Watches are checked
/// even when the scope looks unchanged: one may have been started under a
/// wider scope between two checks.)
pub fn rescope<A: Adapter>(s: &SocketRef<A>, ctx: &SocketCtx, scope: Scope) {
    let ended = ctx.end_watches_outside(&scope);
    if crate::staff::scope_of(s).as_ref() != Some(&scope) {
        crate::staff::place(s, scope, ctx.dashboard_open());
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
