//! The registry of hubs and the subscribe API the server uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::broadcast;

use crate::config::EngineConfig;
use crate::docker::{ContainerInfo, DockerClient};
use crate::events::{EngineState, EventWatcher, WatchEvent};
use crate::hub::{Attachment, Hub, Phase, StartError};
use crate::line::Cursor;
use crate::subscription::Subscription;

/// Where a new subscriber starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The last `n` lines (bounded by the backlog), then live.
    Tail(usize),
    /// Every line after this cursor that the backlog still holds, then live.
    After(Cursor),
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
        let mut phase = hub.phase();
        let ready = tokio::time::timeout(
            self.inner.cfg.subscribe_timeout,
            phase.wait_for(|p| *p != Phase::Starting),
        )
        .await;
        match ready {
            Err(_) => return Err(SubscribeError::Timeout),
            Ok(Err(_)) => return Err(SubscribeError::Timeout),
            Ok(Ok(p)) => {
                if let Phase::Failed(e) = &*p {
                    return Err(SubscribeError::Start(e.clone()));
                }
            }
        }
        let cfg = &self.inner.cfg;
        let max = cfg.backlog_lines;
        let (attachment, resumed_from, gap_before): (Attachment, _, _) = match start {
            StartAt::Tail(n) => (hub.attach(n.min(max), cfg), None, false),
            StartAt::After(c) => match hub.attach_after(c, cfg) {
                Some(a) => (a, Some(c), false),
                // Older than the backlog: deliver all of it, after a gap notice.
                None => {
                    let a = hub.attach(max, cfg);
                    let gap = a.last.is_some_and(|l| l > c);
                    (a, Some(c), gap)
                }
            },
        };
        Ok(Subscription::new(
            hub,
            guard,
            attachment,
            resumed_from,
            gap_before,
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
        .map_err(|e| match e {
            crate::docker::DockerError::NotFound => StartError::NotFound,
            crate::docker::DockerError::Unreachable(m) => StartError::Unavailable(m),
            crate::docker::DockerError::Other(m) => StartError::Unreadable(m),
        })
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
