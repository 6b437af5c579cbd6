//! Retention: what history keeps, and for how long, is the operator's.
//!
//! Three rules, applied in this order every `prune_interval`:
//! 1. a container's history goes `retention` after it ended (exited and
//!    not started again, or removed);
//! 2. a container holding more than `max_container_bytes` loses its oldest
//!    chunks;
//! 3. while history holds more than `max_bytes` in all, the oldest chunks
//!    (by their newest line) go first, whoever they belong to.
//!
//! A pruned chunk leaves a `pruned` entry in its container's timeline, so
//! a reader sees where the kept lines begin. Pruning only ever removes
//! sealed chunks: the one being filled stays. Several nodes may prune at
//! once: a chunk is removed, and counted, once.

use std::time::Duration;

use crate::config::HistoryConfig;
use crate::metrics;
use crate::store::{Store, StoreError};

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub containers: u64,
    pub chunks: u64,
    pub bytes: i64,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One pass of the three rules.
pub async fn prune_once(store: &Store, cfg: &HistoryConfig) -> Result<Pruned, StoreError> {
    let now = now_ns();
    let mut out = Pruned::default();
    let keep = i64::try_from(cfg.retention.as_nanos()).unwrap_or(i64::MAX);
    let (containers, bytes) = store.prune_ended(now.saturating_sub(keep)).await?;
    out.containers += containers;
    out.bytes += bytes;
    ::metrics::counter!(metrics::PRUNED_BYTES, "reason" => "retention")
        .increment(u64::try_from(bytes).unwrap_or(0));

    if cfg.max_container_bytes > 0 {
        let cap = i64::try_from(cfg.max_container_bytes).unwrap_or(i64::MAX);
        for id in store.over_cap(cap).await? {
            let Some(row) = store.container(id).await? else {
                continue;
            };
            let mut over = row.stored_bytes - cap;
            let mut drop = Vec::new();
            for c in store.oldest_sealed(Some(id), 1024).await? {
                if over <= 0 {
                    break;
                }
                over -= c.1;
                drop.push(c);
            }
            let bytes: i64 = drop.iter().map(|c| c.1).sum();
            out.chunks += drop.len() as u64;
            out.bytes += bytes;
            store.drop_chunks(&drop, now).await?;
            ::metrics::counter!(metrics::PRUNED_BYTES, "reason" => "container_cap")
                .increment(u64::try_from(bytes).unwrap_or(0));
        }
    }

    if cfg.max_bytes > 0 {
        let cap = i64::try_from(cfg.max_bytes).unwrap_or(i64::MAX);
        loop {
            let total = store.total_stored().await?;
            if total <= cap {
                break;
            }
            let mut over = total - cap;
            let mut drop = Vec::new();
            for c in store.oldest_sealed(None, 256).await? {
                if over <= 0 {
                    break;
                }
                over -= c.1;
                drop.push(c);
            }
            if drop.is_empty() {
                // Only open chunks left: nothing more may go.
                break;
            }
            let bytes: i64 = drop.iter().map(|c| c.1).sum();
            out.chunks += drop.len() as u64;
            out.bytes += bytes;
            store.drop_chunks(&drop, now).await?;
            ::metrics::counter!(metrics::PRUNED_BYTES, "reason" => "total_cap")
                .increment(u64::try_from(bytes).unwrap_or(0));
        }
    }
    let total = store.total_stored().await?;
    ::metrics::gauge!(metrics::STORED_BYTES).set(total as f64);
    Ok(out)
}

/// Prunes every `prune_interval`, forever.
pub fn spawn(store: Store, cfg: HistoryConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = cfg.prune_interval.max(Duration::from_secs(1));
        loop {
            match prune_once(&store, &cfg).await {
                Ok(p) if p.bytes > 0 || p.containers > 0 => tracing::info!(
                    containers = p.containers,
                    chunks = p.chunks,
                    bytes = p.bytes,
                    "history: pruned"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "history: pruning failed"),
            }
            tokio::time::sleep(every).await;
        }
    })
}
