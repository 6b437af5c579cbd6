//! The registry of hubs and the subscribe API the server uses.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::broadcast;

use crate::config::EngineConfig;
use crate::docker::{ContainerInfo, DockerClient};
use crate::events::{EngineState, EventWatcher, WatchEvent};
use crate::hub::{Hub, Phase, Resume, StartError, read_resume};
use crate::line::Cursor;
use crate::subscription::Subscription;

/// Where a new subscriber starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The last `n` lines (bounded by the backlog), then live.
    Tail(usize),
    /// Exactly the lines after this cursor, then live: from the in-memory
    /// backlog when it reaches back that far, else read back from Docker (at
    /// most `max_resume_lines`; older ones are reported as a gap).
    After(Cursor),
    /// Every line stamped at or after this time (nanoseconds since the
    /// epoch), then live.
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

pub(crate) struct EngineInner {
    pub(crate) docker: DockerClient,
    pub(crate) cfg: EngineConfig,
    pub(crate) events: Arc<EventWatcher>,
    hubs: Mutex<HashMap<String, Arc<Hub>>>,
}

/// labtail's log engine: knows Docker, knows nothing of Socket.IO.
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
    pub fn new(docker: DockerClient, cfg: EngineConfig) -> Self {
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

    pub fn docker(&self) -> &DockerClient {
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
        self.inner
            .hubs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Joins the container's stream, opening its upstream if no one watches it
    /// yet. The caller has already decided that the user may see `container`.
    pub async fn subscribe(
        &self,
        container: &ContainerInfo,
        start: StartAt,
    ) -> Result<Subscription, SubscribeError> {
        let hub = {
            let mut hubs = self.inner.hubs.lock().unwrap_or_else(|p| p.into_inner());
            let hub = match hubs.get(&container.id) {
                Some(h) if h.is_usable() => h.clone(),
                _ => {
                    let h = Hub::new(container.clone(), &self.inner.cfg);
                    h.start(
                        self.inner.docker.clone(),
                        self.inner.events.clone(),
                        self.inner.cfg.clone(),
                    );
                    hubs.insert(container.id.clone(), h.clone());
                    h
                }
            };
            hub.add_watcher();
            hub
        };
        // From here the watcher is counted; the guard undoes it on every path.
        let guard = WatchGuard {
            engine: Arc::downgrade(&self.inner),
            hub: hub.clone(),
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
        let cfg = &self.inner.cfg;
        let max = cfg.backlog_lines;
        let resume = match start {
            StartAt::Tail(n) => {
                let a = hub.attach(n.min(max), cfg);
                return Ok(Subscription::new(hub, guard, a, None, None));
            }
            StartAt::After(c) => Resume::After(c),
            StartAt::Since(t) => Resume::Since(t),
        };
        let resumed_from = match resume {
            Resume::After(c) => Some(c),
            Resume::Since(_) => None,
        };
        if let Some(a) = hub.attach_resume(resume, cfg) {
            return Ok(Subscription::new(hub, guard, a, resumed_from, None));
        }
        // The backlog starts after the resume point: attach to all of it now
        // (so nothing published meanwhile is missed), then read the older
        // part from Docker, stopping where the backlog begins.
        let a = hub.attach(max, cfg);
        let ring: HashSet<Cursor> = a
            .backlog
            .iter()
            .flat_map(|s| s.lines().iter().map(|l| l.cursor))
            .collect();
        let history = read_resume(&self.inner.docker, &container.id, resume, &ring, cfg)
            .await
            .map_err(|e| SubscribeError::Start(crate::hub::start_error(e)))?;
        if history.dropped > 0 {
            metrics::counter!("labtail_lines_dropped_total", "reason" => "resume_limit")
                .increment(history.dropped);
        }
        Ok(Subscription::new(
            hub,
            guard,
            a,
            resumed_from,
            Some(history),
        ))
    }

    /// The last `n` lines of a container's log, read once (no follow).
    pub async fn read_tail(
        &self,
        container: &ContainerInfo,
        n: usize,
    ) -> Result<Vec<crate::line::Line>, StartError> {
        crate::hub::read_lines(
            &self.inner.docker,
            &container.id,
            crate::docker::ReadFrom::Tail(n as u64),
            &self.inner.cfg,
            n,
        )
        .await
        .map_err(crate::hub::start_error)
    }

    fn detach(inner: &EngineInner, hub: &Arc<Hub>) {
        let mut hubs = inner.hubs.lock().unwrap_or_else(|p| p.into_inner());
        if hub.remove_watcher()
            && hubs
                .get(&hub.container.id)
                .is_some_and(|h| Arc::ptr_eq(h, hub))
        {
            hubs.remove(&hub.container.id);
        }
    }
}

/// Counts one watcher on a hub while alive.
pub(crate) struct WatchGuard {
    engine: Weak<EngineInner>,
    hub: Arc<Hub>,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        match self.engine.upgrade() {
            Some(inner) => LogEngine::detach(&inner, &self.hub),
            None => {
                self.hub.remove_watcher();
            }
        }
    }
}
