//! Attention in the server: starting it (it observes history's
//! recorders), and what of it each user may see. The signals, the store
//! and the evaluation are `labtail-attention`'s; who may see which entry is
//! `access.rs`'s rule, applied here to entries and checklists.

use std::collections::HashMap;
use std::sync::Arc;

use labtail_attention::{Attention, AttentionConfig, LabDef, Store, StoreError};
use labtail_logs::Scope;

use crate::db::{Db, Pool};
use crate::wire::{AttentionEntry, Checkpoint, OwnHand};

/// Attention's store over the server's database.
pub fn store_of(db: &Db) -> Store {
    Store::new(match db.pool() {
        Pool::Sqlite(p) => labtail_history::Pool::Sqlite(p.clone()),
        Pool::Postgres(p) => labtail_history::Pool::Postgres(p.clone()),
    })
}

/// Starts attention; it sees what history's recorders record (hand it to
/// [`crate::history::History::start`]).
pub fn start(
    db: &Db,
    history_cfg: &labtail_history::HistoryConfig,
    cfg: AttentionConfig,
    labs: Vec<LabDef>,
) -> Result<Arc<Attention>, String> {
    Attention::start(
        cfg,
        store_of(db),
        crate::history::store_of(db),
        history_cfg.clone(),
        labs,
    )
}

/// The attention list `scope` may see, most urgent first.
pub async fn entries(a: &Attention, scope: &Scope) -> Result<Vec<AttentionEntry>, StoreError> {
    let since =
        now_ns().saturating_sub(i64::try_from(a.config().window.as_nanos()).unwrap_or(i64::MAX));
    let all = a.store().entries(since, a.config().max_entries).await?;
    Ok(all
        .iter()
        .filter(|e| scope.covers(Some(&e.entry.owner), e.entry.course.as_deref()))
        .map(|e| AttentionEntry::of(&e.entry))
        .collect())
}

/// The hands `username` raised (by the session's name, never a client's),
/// with their answers.
pub async fn own_hands(a: &Attention, username: &str) -> Result<Vec<OwnHand>, StoreError> {
    let since =
        now_ns().saturating_sub(i64::try_from(a.config().window.as_nanos()).unwrap_or(i64::MAX));
    let rows = a
        .store()
        .hands_of(username, since, a.config().max_entries)
        .await?;
    Ok(rows
        .iter()
        .map(|(e, by)| OwnHand::of(&e.entry, by.as_deref()))
        .collect())
}

/// Entries narrowed to what `scope` may see.
pub fn narrow(all: &[AttentionEntry], scope: &Scope) -> Vec<AttentionEntry> {
    all.iter()
        .filter(|e| scope.covers(Some(&e.owner), e.course.as_deref()))
        .cloned()
        .collect()
}

/// The checklists of containers (`(Docker ID, lab)`): their lab's
/// checkpoints, reached or not. Containers of no lab with checkpoints
/// have none.
pub async fn checklists(
    a: &Attention,
    containers: &[(String, Option<String>)],
) -> Result<HashMap<String, Vec<Checkpoint>>, StoreError> {
    let labs = a.labs();
    let with: Vec<(String, Arc<labtail_attention::labs::Lab>)> = containers
        .iter()
        .filter_map(|(id, lab)| {
            let lab = labs.get(lab.as_deref()?)?;
            (!lab.def.checkpoints.is_empty()).then(|| (id.clone(), lab.clone()))
        })
        .collect();
    if with.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<String> = with.iter().map(|(id, _)| id.clone()).collect();
    let reached = a.store().reached(&ids).await?;
    Ok(with
        .into_iter()
        .map(|(id, lab)| {
            let list = labtail_attention::store::checklist(&lab.def, &reached, &id)
                .iter()
                .map(Checkpoint::of)
                .collect();
            (id, list)
        })
        .collect())
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
