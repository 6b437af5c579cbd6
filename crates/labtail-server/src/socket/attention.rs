//! The attention events: an instructor acknowledges or dismisses an entry
//! (`ack-attention`, `dismiss-attention`) or answers a raised hand
//! (`answer-hand`); a student raises a hand on a line of their own
//! container (`raise-hand`). Every one checks, on the server, who asks
//! and whether the entry or container is theirs to touch: "not yours" and
//! "does not exist" answer alike.

use labtail_attention::{Attention, EntryState, Evidence, Subject};
use labtail_history::{Anchor, Visible};
use labtail_logs::Scope;
use serde_json::Value;

use crate::audit::{self, Kind};
use crate::db::UserRow;
use crate::state::AppState;
use crate::wire::{Code, HandAck, HandAnswer, HandRequest, OkAck, True, WireError, names};

fn attention(app: &AppState) -> Result<&Attention, WireError> {
    app.attention
        .as_deref()
        .ok_or_else(|| WireError::new(Code::Unavailable, "attention is off on this server"))
}

fn staff(user: &UserRow) -> Result<(), WireError> {
    if user.role.is_staff() {
        Ok(())
    } else {
        Err(WireError::new(
            Code::Forbidden,
            "attention is for instructors",
        ))
    }
}

fn to_value(v: impl serde::Serialize) -> Result<Value, WireError> {
    serde_json::to_value(v).map_err(WireError::internal)
}

/// The entry `id`, if `user` may see it.
async fn entry_for(
    app: &AppState,
    a: &Attention,
    user: &UserRow,
    id: i64,
) -> Result<labtail_attention::StoredEntry, WireError> {
    let scope = crate::access::access_of(&app.db, user.role, &user.username)
        .await
        .map_err(WireError::internal)?
        .scope;
    match a.store().entry(id).await.map_err(WireError::internal)? {
        Some(e) if scope.covers(Some(&e.entry.owner), e.entry.course.as_deref()) => Ok(e),
        _ => Err(WireError::new(
            Code::ForbiddenOrMissing,
            "no such entry, or not one you may see",
        )),
    }
}

/// `ack-attention` / `dismiss-attention`.
pub(super) async fn set_state(
    app: &AppState,
    user: &UserRow,
    id: i64,
    dismiss: bool,
) -> Result<Value, WireError> {
    staff(user)?;
    let a = attention(app)?;
    let e = entry_for(app, a, user, id).await?;
    let state = if dismiss {
        EntryState::Dismissed
    } else {
        EntryState::Acknowledged
    };
    a.store()
        .set_state(id, state, &user.username)
        .await
        .map_err(WireError::internal)?;
    let detail = format!(
        "{} entry {id} ({} of {})",
        state.as_str(),
        e.entry.signal.as_str(),
        e.entry.owner
    );
    audit::record(
        app,
        Kind::Attention,
        &user.username,
        None,
        Some(&e.entry.container_name),
        Some(&detail),
    )
    .await;
    to_value(OkAck { ok: True })
}

/// `raise-hand`: on a line of the user's own container.
pub(super) async fn raise_hand(
    app: &AppState,
    user: &UserRow,
    req: HandRequest,
) -> Result<Value, WireError> {
    let a = attention(app)?;
    let not_yours = || WireError::forbidden_or_missing();
    let own = Scope::Owner(user.username.clone());
    // The container, live or in history; the user's own only.
    let subject = match app.engine.find(&own, &req.container_name).await {
        Ok(Some(c)) => Subject::of(&c),
        _ => None,
    };
    let history = app.history.as_ref();
    let row = match history {
        Some(h) => h
            .find(&Visible::Owner(user.username.clone()), &req.container_name)
            .await
            .map_err(WireError::internal)?,
        None => None,
    };
    let subject = subject
        .or_else(|| {
            row.as_ref().map(|r| Subject {
                container_id: r.docker_id.clone(),
                container_name: r.name.clone(),
                owner: r.owner.clone(),
                course: r.course.clone(),
                lab: r.lab.clone(),
            })
        })
        .filter(|s| s.owner == user.username)
        .ok_or_else(not_yours)?;
    // The line and its neighbours, from history. A line written in the
    // last moments may not be recorded yet: look again after a flush or
    // two (the container's row re-read, as it grows), then refuse: a hand
    // always points at a line the instructor can open.
    let mut evidence = Vec::new();
    if let Some(h) = history {
        let wait = h.cfg.flush_interval + std::time::Duration::from_millis(500);
        let mut row = row;
        for attempt in 0..3 {
            let page = match row.as_ref() {
                Some(r) => h.reader.page(r, Anchor::Around(req.cursor), 5).await.ok(),
                None => None,
            };
            if let Some(page) = page
                && page.lines.iter().any(|n| n.line.cursor == req.cursor)
            {
                evidence = page.lines.iter().map(|n| Evidence::of(&n.line)).collect();
                break;
            }
            if attempt == 2 {
                break;
            }
            tokio::time::sleep(wait).await;
            row = h
                .find(&Visible::Owner(user.username.clone()), &req.container_name)
                .await
                .map_err(WireError::internal)?;
        }
    }
    if evidence.is_empty() {
        return Err(WireError::invalid(
            "no such line in this container's record: raise a hand on a line it wrote",
        ));
    }
    let id = a
        .raise_hand(&subject, &req.message, req.cursor.ts_nanos, &evidence)
        .await
        .map_err(WireError::internal)?;
    audit::record(
        app,
        Kind::Attention,
        &user.username,
        None,
        Some(&subject.container_name),
        Some(&format!("raised a hand (entry {id})")),
    )
    .await;
    to_value(HandAck { ok: True, id })
}

/// `answer-hand`: the student's sockets get `hand-answer`, on every node.
pub(super) async fn answer_hand(
    app: &AppState,
    user: &UserRow,
    id: i64,
    message: String,
) -> Result<Value, WireError> {
    staff(user)?;
    let a = attention(app)?;
    let e = entry_for(app, a, user, id).await?;
    if e.entry.signal != labtail_attention::Signal::Hand {
        return Err(WireError::invalid("that entry is not a raised hand"));
    }
    a.store()
        .answer(id, &message, &user.username)
        .await
        .map_err(WireError::internal)?;
    if let Some(io) = app.io() {
        let answer = HandAnswer {
            id,
            container_name: e.entry.container_name.clone(),
            message,
            from: user.username.clone(),
        };
        io.emit_everywhere(
            crate::rooms::owner(&e.entry.owner),
            names::HAND_ANSWER,
            &answer,
            app.cfg.redis_timeout,
        )
        .await;
    }
    audit::record(
        app,
        Kind::Attention,
        &user.username,
        None,
        Some(&e.entry.container_name),
        Some(&format!(
            "answered the hand of {} (entry {id})",
            e.entry.owner
        )),
    )
    .await;
    to_value(OkAck { ok: True })
}
