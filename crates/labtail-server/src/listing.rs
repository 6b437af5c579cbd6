//! The containers a user may see: Docker's (live, running or not) and
//! history's (ended and removed ones too), in one list.

use crate::access::access_of;
use crate::db::Role;
use crate::history::wire_container;
use crate::state::AppState;
use crate::wire::{Code, ContainerState, WireContainer, WireError};

/// Removed containers a list shows at most (the newest).
const MAX_REMOVED: i64 = 500;

/// Docker's containers in the user's scope, with what history knows of how
/// each ended, then the removed ones history keeps, newest first. With
/// Docker unreachable, history's still show.
pub async fn containers_for(
    app: &AppState,
    role: Role,
    username: &str,
) -> Result<Vec<WireContainer>, WireError> {
    let access = access_of(&app.db, role, username)
        .await
        .map_err(WireError::internal)?;
    let live = app.engine.list(&access.scope).await;
    let Some(history) = &app.history else {
        let live = live.map_err(|e| WireError::new(Code::Unavailable, e.to_string()))?;
        return Ok(live.iter().map(WireContainer::from).collect());
    };
    // Docker's full IDs and labs of the list's entries, for checklists.
    let mut ids: Vec<(String, Option<String>)> = Vec::new();
    let rows = history
        .store
        .containers(&access.visible, None, MAX_REMOVED)
        .await;
    let (live, rows) = match (live, rows) {
        (Ok(l), Ok(r)) => (l, r),
        (Ok(l), Err(e)) => {
            tracing::warn!(error = %e, "history unavailable for the container list");
            (l, Vec::new())
        }
        (Err(_), Ok(r)) => (Vec::new(), r),
        (Err(e), Err(_)) => return Err(WireError::new(Code::Unavailable, e.to_string())),
    };
    let mut out: Vec<WireContainer> = Vec::with_capacity(live.len() + rows.len());
    for c in &live {
        let mut w = WireContainer::from(c);
        if w.state != ContainerState::Running
            && let Some(row) = rows.iter().find(|r| r.docker_id == c.id.as_str())
        {
            w.ended_at = row.ended_at.map(crate::history::rfc3339);
            w.exit_code = row.exit_code;
        }
        ids.push((c.id.as_str().to_owned(), c.lab.clone()));
        out.push(w);
    }
    let mut gone: Vec<&labtail_history::ContainerRow> = rows
        .iter()
        .filter(|r| !live.iter().any(|c| c.id.as_str() == r.docker_id))
        .collect();
    gone.sort_by_key(|r| std::cmp::Reverse(r.ended_at.or(r.removed_at).unwrap_or(r.created_at)));
    for r in gone {
        let mut w = wire_container(r);
        // Not in Docker's list: gone, whether or not its removal was seen.
        w.state = ContainerState::Removed;
        ids.push((r.docker_id.clone(), r.lab.clone()));
        out.push(w);
    }
    // Each container's checklist, where its lab has checkpoints.
    if let Some(a) = &app.attention {
        match crate::attention::checklists(a, &ids).await {
            Ok(mut lists) => {
                for (w, (id, _)) in out.iter_mut().zip(&ids) {
                    w.checkpoints = lists.remove(id);
                }
            }
            Err(e) => tracing::debug!(error = %e, "checklists unavailable for the container list"),
        }
    }
    Ok(out)
}
