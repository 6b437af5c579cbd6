//! Wake-ups when a directory changes: one inotify instance for the whole
//! process, one watch per container log directory (shared by every reader
//! of it), a generation counter per directory that readers wait on.
//!
//! Without inotify (its limits reached, or not Linux) readers fall back to
//! polling; every reader also looks again at least once a second anyway, so
//! a missed event costs latency, never lines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use futures_util::StreamExt;
use inotify::{Inotify, WatchDescriptor, WatchMask, Watches};
use tokio::sync::watch;

struct Dir {
    wd: WatchDescriptor,
    tx: watch::Sender<u64>,
    users: usize,
}

struct Shared {
    watches: Mutex<(Watches, HashMap<PathBuf, Dir>)>,
    by_wd: Mutex<HashMap<WatchDescriptor, watch::Sender<u64>>>,
}

/// The process's directory watcher.
pub(crate) struct DirWatcher {
    shared: Option<Arc<Shared>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DirWatcher {
    /// The process's watcher (made on first use, inside a Tokio runtime).
    pub(crate) fn get() -> &'static DirWatcher {
        static W: OnceLock<DirWatcher> = OnceLock::new();
        W.get_or_init(|| match Self::start() {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "inotify unavailable: log files are polled");
                DirWatcher { shared: None }
            }
        })
    }

    fn start() -> std::io::Result<DirWatcher> {
        let inotify = Inotify::init()?;
        let watches = inotify.watches();
        let stream = inotify.into_event_stream(vec![0u8; 4096])?;
        let shared = Arc::new(Shared {
            watches: Mutex::new((watches, HashMap::new())),
            by_wd: Mutex::new(HashMap::new()),
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        tokio::spawn(async move {
            let mut stream = stream;
            while let Some(ev) = stream.next().await {
                let Ok(ev) = ev else { continue };
                let Some(shared) = weak.upgrade() else { return };
                if let Some(tx) = lock(&shared.by_wd).get(&ev.wd) {
                    tx.send_modify(|g| *g = g.wrapping_add(1));
                }
            }
        });
        Ok(DirWatcher {
            shared: Some(shared),
        })
    }

    /// Watches `dir` while the guard lives; `None` when inotify is not
    /// available (poll instead).
    pub(crate) fn watch(&self, dir: &Path) -> Option<DirGuard> {
        let shared = self.shared.as_ref()?;
        let mut w = lock(&shared.watches);
        let (watches, dirs) = &mut *w;
        if let Some(d) = dirs.get_mut(dir) {
            d.users += 1;
            return Some(DirGuard {
                shared: shared.clone(),
                dir: dir.to_owned(),
                rx: d.tx.subscribe(),
            });
        }
        let mask = WatchMask::MODIFY
            | WatchMask::CREATE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::DELETE
            | WatchMask::CLOSE_WRITE;
        let wd = match watches.add(dir, mask) {
            Ok(wd) => wd,
            Err(e) => {
                tracing::debug!(dir = %dir.display(), error = %e, "cannot watch log directory");
                return None;
            }
        };
        let (tx, rx) = watch::channel(0);
        lock(&shared.by_wd).insert(wd.clone(), tx.clone());
        dirs.insert(dir.to_owned(), Dir { wd, tx, users: 1 });
        Some(DirGuard {
            shared: shared.clone(),
            dir: dir.to_owned(),
            rx,
        })
    }
}

/// A directory watched; changes wake [`DirGuard::changed`].
pub(crate) struct DirGuard {
    shared: Arc<Shared>,
    dir: PathBuf,
    rx: watch::Receiver<u64>,
}

impl DirGuard {
    /// Waits until the directory changed since the last call (or first use).
    pub(crate) async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The watcher is gone: behave as polled.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        let mut w = lock(&self.shared.watches);
        let (watches, dirs) = &mut *w;
        let last = match dirs.get_mut(&self.dir) {
            Some(d) => {
                d.users -= 1;
                d.users == 0
            }
            None => false,
        };
        if last && let Some(d) = dirs.remove(&self.dir) {
            lock(&self.shared.by_wd).remove(&d.wd);
            // Fails harmlessly when the directory is gone already.
            let _ = watches.remove(d.wd);
        }
    }
}
