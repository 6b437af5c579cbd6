//! Lab history in the server: the recorders and retention of this node,
//! and the lookups the socket handlers and the HTTP API share. The storage,
//! reads, search and export are `labtail-history`'s; who may see which
//! history is `access.rs`'s.

use labtail_history::{ContainerRow, HistoryConfig, Reader, Recorders, Store, Visible};
use labtail_logs::Fleet;

use crate::db::{Db, Pool};
use crate::wire::{ContainerState, WireContainer};

/// History on this node.
pub struct History {
    pub store: Store,
    pub reader: Reader,
    pub cfg: HistoryConfig,
    _recorders: Recorders,
    retention: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").finish_non_exhaustive()
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.retention.abort();
    }
}

/// This node's name in the lease table: unique per process.
fn node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "node".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{host}-{}-{nanos:x}", std::process::id())
}

/// The history store over the server's database.
pub fn store_of(db: &Db) -> Store {
    Store::new(match db.pool() {
        Pool::Sqlite(p) => labtail_history::Pool::Sqlite(p.clone()),
        Pool::Postgres(p) => labtail_history::Pool::Postgres(p.clone()),
    })
}

impl History {
    /// Starts recording every engine of the fleet (while this node holds
    /// each engine's lease) and pruning.
    /// `observer` (attention) sees each line as it is recorded.
    pub fn start(
        db: &Db,
        fleet: &Fleet,
        cfg: HistoryConfig,
        observer: Option<std::sync::Arc<dyn labtail_history::Observer>>,
    ) -> Self {
        let store = store_of(db);
        let node = node_id();
        let recorders = Recorders::start(fleet, &store, &cfg, &node, observer);
        let retention = labtail_history::retention::spawn(store.clone(), cfg.clone());
        History {
            reader: Reader::new(store.clone(), &cfg),
            store,
            cfg,
            _recorders: recorders,
            retention,
        }
    }

    /// The container `name_or_id` names among those `who` may see: by its
    /// name now (the newest container of that name), or by its ID (12 hex
    /// digits or more).
    pub async fn find(
        &self,
        who: &Visible,
        name_or_id: &str,
    ) -> Result<Option<ContainerRow>, labtail_history::StoreError> {
        let wanted = name_or_id.trim_start_matches('/');
        if let Some(row) = self.store.containers(who, Some(wanted), 1).await?.pop() {
            return Ok(Some(row));
        }
        if wanted.len() >= 12 && wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
            let rows = self.store.containers_by_id_prefix(who, wanted).await?;
            if let [one] = rows.as_slice() {
                return Ok(Some(one.clone()));
            }
        }
        Ok(None)
    }
}

/// RFC 3339 of nanoseconds since the epoch.
pub fn rfc3339(ns: i64) -> String {
    labtail_logs::format_rfc3339_nanos(ns)
}

/// A container history knows, as lists show it.
pub fn wire_container(row: &ContainerRow) -> WireContainer {
    let state = if row.removed_at.is_some() {
        ContainerState::Removed
    } else if row.ended_at.is_some() {
        ContainerState::Exited
    } else {
        ContainerState::Running
    };
    WireContainer {
        checkpoints: None,
        name: row.name.clone(),
        id: row.docker_id.get(..12).unwrap_or(&row.docker_id).to_owned(),
        owner: Some(row.owner.clone()),
        state,
        status: match (row.removed_at, row.exit_code) {
            (Some(_), Some(c)) => format!("Removed (exited {c})"),
            (Some(_), None) => "Removed".into(),
            (None, Some(c)) => format!("Exited ({c})"),
            (None, None) => String::new(),
        },
        image: row.image.clone(),
        created: row.created_at.div_euclid(1_000_000_000),
        ended_at: row.ended_at.map(rfc3339),
        exit_code: row.exit_code,
        course: row.course.clone(),
        lab: row.lab.clone(),
    }
}
