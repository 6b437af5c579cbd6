//! What one socket holds: who it is, its watches, whether it has the
//! dashboard open. (A staff socket's scope is `crate::staff`'s.) (Its event queue and worker are `worker.rs`'s.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use labtail_logs::metrics::GaugeGuard;
use labtail_logs::{DockerId, Scope};

use crate::db::Role;
use crate::slots::Slot;

/// Who is on a socket, fixed at the handshake.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub session_id: String,
    /// The auth hash the session was made with: if it changes (new
    /// password, revoked sessions), the socket ends.
    pub auth_hash: String,
    /// Login time of the session (seconds since the epoch).
    pub login_at: i64,
    pub ip: Option<std::net::IpAddr>,
}

/// Per-socket state, shared by the handlers, the worker and the forwarders.
#[derive(Debug)]
pub struct SocketCtx {
    pub ident: Identity,
    watches: Mutex<HashMap<WatchKey, Watch>>,
    /// Whether this socket has the dashboard open.
    dashboard: AtomicBool,
    /// The user's socket slot (`--max-sockets-per-user`), given back at
    /// disconnect (or when the socket's state is dropped, whichever first).
    slot: Mutex<Option<Slot>>,
    _gauge: GaugeGuard,
}

/// A socket's watch of one container, or its wait for one to appear.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum WatchKey {
    Container(DockerId),
    /// Replaying a removed container's history (history's row ID).
    History(i64),
    /// Waiting (`wait`) for a container of this name to appear in scope.
    Waiting(String),
}

#[derive(Debug)]
struct Watch {
    /// The name the watch answers to (the container's, or the awaited one).
    name: String,
    /// Whose container it is (checked again as courses change).
    whose: Whose,
    task: tokio::task::AbortHandle,
}

/// A watched container's owner and course labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Whose {
    pub owner: Option<String>,
    pub course: Option<String>,
}

impl Whose {
    pub(super) fn of(c: &labtail_logs::ContainerInfo) -> Self {
        Whose {
            owner: c.owner.clone(),
            course: c.course.clone(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SocketCtx {
    pub(super) fn new(ident: Identity, slot: Slot) -> Self {
        SocketCtx {
            ident,
            watches: Mutex::new(HashMap::new()),
            dashboard: AtomicBool::new(false),
            slot: Mutex::new(Some(slot)),
            _gauge: GaugeGuard::new(crate::metrics::SOCKETS_CONNECTED),
        }
    }

    /// Watches (and waits) of this socket.
    pub(super) fn watch_count(&self) -> usize {
        lock(&self.watches).len()
    }

    pub(super) fn watches_container(&self, id: &DockerId) -> bool {
        lock(&self.watches).contains_key(&WatchKey::Container(id.clone()))
    }

    /// Runs a watch's task and registers it. Registered under the lock the
    /// task needs to forget itself, so a watch that ends at once cannot be
    /// forgotten before it is known (and then linger).
    pub(super) fn spawn_watch(
        &self,
        key: WatchKey,
        name: String,
        whose: Whose,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::AbortHandle {
        let mut watches = lock(&self.watches);
        let task = tokio::spawn(task).abort_handle();
        watches.insert(
            key,
            Watch {
                name,
                whose,
                task: task.clone(),
            },
        );
        task
    }

    /// Whether this socket has the dashboard open.
    pub fn dashboard_open(&self) -> bool {
        self.dashboard.load(Ordering::SeqCst)
    }

    /// Ends the watches whose container `scope` no longer covers (an
    /// instructor who stopped teaching a course, a student dropped from
    /// it); returns the names they answered to and their tasks (aborted,
    /// perhaps not finished yet).
    pub fn end_watches_outside(&self, scope: &Scope) -> Vec<(String, tokio::task::AbortHandle)> {
        let mut watches = lock(&self.watches);
        let gone: Vec<WatchKey> = watches
            .iter()
            .filter(|(k, w)| {
                matches!(k, WatchKey::Container(_) | WatchKey::History(_))
                    && !scope.covers(w.whose.owner.as_deref(), w.whose.course.as_deref())
            })
            .map(|(k, _)| k.clone())
            .collect();
        gone.into_iter()
            .filter_map(|k| watches.remove(&k))
            .map(|w| {
                w.task.abort();
                (w.name, w.task)
            })
            .collect()
    }

    /// A watched container was renamed: the watch answers to its new name
    /// (`stop-container-logs` with it).
    pub(super) fn rename_watch(&self, key: &WatchKey, name: String) {
        if let Some(w) = lock(&self.watches).get_mut(key) {
            w.name = name;
        }
    }

    /// Forgets a watch that ended by itself (its task is finishing).
    pub(super) fn forget_watch(&self, key: &WatchKey) {
        lock(&self.watches).remove(key);
    }

    /// Turns a wait into the watch of the container that appeared (same
    /// task); false if the wait was stopped meanwhile.
    pub(super) fn promote_wait(
        &self,
        wait: &WatchKey,
        id: DockerId,
        name: String,
        whose: Whose,
    ) -> bool {
        let mut w = lock(&self.watches);
        let Some(old) = w.remove(wait) else {
            return false;
        };
        w.insert(
            WatchKey::Container(id),
            Watch {
                name,
                whose,
                task: old.task,
            },
        );
        true
    }

    /// Stops the watch `name` means: the name it was started under, an ID
    /// prefix of 12 or more digits, or, with several Docker hosts, a plain
    /// name no other watch of this socket has too. Only this socket's own
    /// watches are looked at: no Docker call, nothing to leak.
    pub(super) fn stop_watch(&self, name: &str) -> bool {
        let mut watches = lock(&self.watches);
        let exact = watches
            .iter()
            .find(|(key, w)| {
                w.name == name
                    || matches!(key, WatchKey::Container(id)
                        if name.len() >= 12 && id.as_str().starts_with(name))
            })
            .map(|(key, _)| key.clone());
        let key = exact.or_else(|| {
            let mut plain = watches
                .iter()
                .filter(|(_, w)| w.name.split_once('/').is_some_and(|(_, n)| n == name));
            match (plain.next(), plain.next()) {
                (Some((key, _)), None) => Some(key.clone()),
                _ => None,
            }
        });
        match key.and_then(|k| watches.remove(&k)) {
            Some(w) => {
                w.task.abort();
                true
            }
            None => false,
        }
    }

    /// Marks the dashboard open; true if it was not.
    pub(super) fn join_dashboard(&self) -> bool {
        !self.dashboard.swap(true, Ordering::SeqCst)
    }

    /// Marks the dashboard closed; true if it was open.
    pub(super) fn leave_dashboard(&self) -> bool {
        self.dashboard.swap(false, Ordering::SeqCst)
    }

    /// Stops every stream of the socket and gives its slot back (on
    /// disconnect).
    pub(super) fn close(&self) {
        for (_, w) in lock(&self.watches).drain() {
            w.task.abort();
        }
        lock(&self.slot).take();
    }
}
