//! The registry of hubs of one Docker engine, and the subscribe API.
//!
//! At most one hub (so one upstream) per container: the first subscriber
//! of a container starts its hub, the last one to leave closes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::broadcast;

use crate::config::EngineConfig;
use crate::docker::{ContainerInfo, Docker, DockerError, DockerId, ReadFrom};
use crate::events::{EngineState, EventWatcher, WatchEvent};
use crate::hub::{Hub, Lease, Phase, Start, StartError};
use crate::line::{Cursor, Line, Mark};
use crate::reread::{After, Resume, read_after, read_lines, read_resume};
use crate::subscription::Subscription;
use crate::upstream::start_error;

/// Where a new subscriber starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The last `n` lines (bounded by the backlog), then live.
    Tail(usize),
    /// Exactly the lines after this mark's line, in Docker's order, then
    /// live: from the in-memory backlog when it holds the line, else read
    /// back from Docker (at most `max_resume_lines`; older ones are reported
    /// as a gap).
    After(Mark),
    /// From the first line stamped at or after this time (nanoseconds since
    /// the epoch), then live.
    Since(i64),
}

/// Why a subscribe failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("the container's log did not open within the time limit")]
    Timeout,
}

struct EngineInner {
    docker: Docker,
    cfg: EngineConfig,
    events: Arc<EventWatcher>,
    hubs: Mutex<HashMap<DockerId, Arc<Hub>>>,
}

impl EngineInner {
    fn hubs(&self) -> std::sync::MutexGuard<'_, HashMap<DockerId, Arc<Hub>>> {
        self.hubs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// labtail's log engine for one Docker engine: knows Docker, knows nothing
/// of Socket.IO.
#[derive(Clone)]
pub struct LogEngine {
    inner: Arc<EngineInner>,
}

impl std::fmt::Debug for LogEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogEngine")
            .field("docker", &self.inner.docker)
            .finish()
    }
}

impl LogEngine {
    /// Starts the engine: spawns the Docker event watcher. Must run inside a
    /// Tokio runtime. The engine being down is not an error here: it is
    /// retried forever and reported by [`LogEngine::engine_state`].
    pub fn new(docker: Docker, cfg: EngineConfig) -> Self {
        let events = EventWatcher::spawn(docker.clone(), cfg.reconnect_max_delay);
        LogEngine {
            inner: Arc::new(EngineInner {
                docker,
                cfg,
                events,
                hubs: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn docker(&self) -> &Docker {
        &self.inner.docker
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    pub fn engine_state(&self) -> EngineState {
        self.inner.events.state()
    }

    /// Lifecycle events of lab containers (for dashboards).
    pub fn container_events(&self) -> broadcast::Receiver<WatchEvent> {
        self.inner.events.subscribe()
    }

    /// Containers with an open upstream right now.
    pub fn open_hubs(&self) -> usize {
        self.inner.hubs().len()
    }

    /// Joins the container's stream, opening its upstream if no one watches it
    /// yet. The caller has already decided that the user may see `container`.
    pub async fn subscribe(
        &self,
        container: &ContainerInfo,
        start: StartAt,
    ) -> Result<Subscription, SubscribeError> {
        self.subscribe_bounded(container, start, None).await
    }

    /// [`LogEngine::subscribe`] with this subscriber's own bound on what it
    /// may fall behind (`(lines, bytes)`), instead of the configured one.
    pub async fn subscribe_bounded(
        &self,
        container: &ContainerInfo,
        start: StartAt,
        buffer: Option<(usize, usize)>,
    ) -> Result<Subscription, SubscribeError> {
        let hub = {
            let mut hubs = self.inner.hubs();
            let hub = match hubs.get(&container.id) {
                Some(h) if h.is_usable() => h.clone(),
                _ => {
                    let h = Hub::new(container.clone());
                    crate::upstream::spawn(
                        &h,
                        self.inner.docker.clone(),
                        &self.inner.events,
                        self.inner.cfg.clone(),
                    );
                    hubs.insert(container.id.clone(), h.clone());
                    h
                }
            };
            hub.add_watcher();
            hub
        };
        // From here the watcher is counted; the lease gives it back on every path.
        let lease = {
            let (engine, hub) = (Arc::downgrade(&self.inner), hub.clone());
            Lease::new(move || detach(&engine, &hub))
        };
        // Copy the phase out: the watch guard must not live across an await.
        let phase = {
            let mut rx = hub.phase();
            match tokio::time::timeout(
                self.inner.cfg.subscribe_timeout,
                rx.wait_for(|p| *p != Phase::Starting),
            )
            .await
            {
                Ok(Ok(p)) => Some(p.clone()),
                _ => None,
            }
        };
        let Some(phase) = phase else {
            return Err(SubscribeError::Timeout);
        };
        if let Phase::Failed(e) = phase {
            return Err(SubscribeError::Start(e));
        }
        let own;
        let cfg = match buffer {
            Some((lines, bytes)) => {
                own = EngineConfig {
                    subscriber_buffer_lines: lines,
                    subscriber_buffer_bytes: bytes,
                    ..self.inner.cfg.clone()
                };
                &own
            }
            None => &self.inner.cfg,
        };
        let (start, resume) = match start {
            StartAt::Tail(n) => (Start::Tail(n.min(cfg.backlog_lines)), None),
            StartAt::After(m) => (Start::Resume(Resume::After(m)), Some(Resume::After(m))),
            StartAt::Since(t) => (Start::Resume(Resume::Since(t)), Some(Resume::Since(t))),
        };
        let a = hub.attach(start, cfg);
        let (Some(r), true) = (resume, a.needs_history) else {
            return Ok(Subscription::new(hub, lease, a, resume, None));
        };
        // The ring starts after the resume point: the subscriber is attached
        // to all of it (so nothing published meanwhile is missed); read the
        // older part from Docker, stopping where the ring begins.
        let ring = a.backlog_cursors();
        let history = read_resume(self.inner.docker.as_ref(), &container.id, r, &ring, cfg)
            .await
            .map_err(|e| SubscribeError::Start(start_error(e)))?;
        if history.dropped > 0 {
            metrics::counter!(crate::metrics::LINES_DROPPED, "reason" => "resume_limit")
                .increment(history.dropped);
        }
        Ok(Subscription::new(hub, lease, a, resume, Some(history)))
    }

    /// Every line of the container's log after `mark` (or all of it), read
    /// once (no follow), handed over as it comes: for a reader that must
    /// catch up on a whole log (history) in bounded memory. The receiver
    /// holds the reader back; dropping it stops the read.
    pub fn read_after(
        &self,
        container: &ContainerInfo,
        mark: Option<Cursor>,
    ) -> tokio::sync::mpsc::Receiver<Result<After, DockerError>> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let docker = self.inner.docker.clone();
        let cfg = self.inner.cfg.clone();
        let id = container.id.clone();
        tokio::spawn(async move { read_after(docker.as_ref(), &id, mark, &cfg, tx).await });
        rx
    }

    /// The last `n` lines of a container's log, read once (no follow).
    pub async fn read_tail(
        &self,
        container: &ContainerInfo,
        n: usize,
    ) -> Result<Vec<Line>, StartError> {
        read_lines(
            self.inner.docker.as_ref(),
            &container.id,
            ReadFrom::Tail(n as u64),
            &self.inner.cfg,
            n,
        )
        .await
        .map_err(start_error)
    }
}

/// A watcher left `hub`: with the last one, the hub closes and leaves the
/// registry (unless a newer hub for the container took its place).
fn detach(engine: &Weak<EngineInner>, hub: &Arc<Hub>) {
    let Some(inner) = engine.upgrade() else {
        hub.remove_watcher();
        return;
    };
    let mut hubs = inner.hubs();
    if hub.remove_watcher()
        && hubs
            .get(&hub.container.id)
            .is_some_and(|h| Arc::ptr_eq(h, hub))
    {
        hubs.remove(&hub.container.id);
    }
}
