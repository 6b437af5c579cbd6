//! `container-update`: every lifecycle change of a lab container, pushed to
//! its owner's room and to the staff who may see it, for the whole life of
//! the server.

use labtail_logs::WatchEvent;
use tokio::sync::broadcast::error::RecvError;

use crate::staff::Audience;
use crate::state::AppState;
use crate::wire::{ContainerState, ContainerUpdate, names};

/// Pushes every lifecycle change of a lab container to its owner and to
/// instructors, for the whole life of the server.
pub async fn push_container_updates(app: AppState) {
    let mut events = app.engine.container_events();
    loop {
        let ev = match events.recv().await {
            Ok(WatchEvent::Container(ev)) => ev,
            Ok(WatchEvent::Resync) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        let Some(state) = ContainerState::after(ev.action) else {
            continue;
        };
        let Some(owner) = ev.owner.clone() else {
            continue;
        };
        let update = ContainerUpdate {
            name: ev.name.clone().unwrap_or_default(),
            id: ev.id.short().to_owned(),
            owner: owner.clone(),
            state,
            exit_code: ev.exit_code,
            course: ev.course.clone(),
        };
        if let Some(io) = app.io() {
            let narrow = |scope: &labtail_logs::Scope| {
                scope
                    .covers(Some(&owner), update.course.as_deref())
                    .then(|| update.clone())
            };
            crate::staff::emit_scoped(
                io,
                Audience::Staff,
                Some(crate::rooms::owner(&owner)),
                names::CONTAINER_UPDATE,
                &update,
                narrow,
            )
            .await;
        }
    }
}
