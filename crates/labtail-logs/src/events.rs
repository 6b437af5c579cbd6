//! One Docker event stream for the whole process, shared by every hub (to see
//! restarts and removals) and by the server (to push status to dashboards).
//! It also tracks whether the engine is up, for `/readyz`.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::{broadcast, watch};

use crate::docker::{Backoff, ContainerEvent, Docker};

/// Is dockerd answering?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineState {
    /// Not known yet (start-up).
    Unknown,
    Up,
    /// Unreachable; the text says why.
    Down(String),
}

/// What the event watcher broadcasts.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    Container(ContainerEvent),
    /// The event stream was re-established: events may have been missed,
    /// so anyone waiting on one must look again (inspect).
    Resync,
}

#[derive(Debug)]
pub struct EventWatcher {
    tx: broadcast::Sender<WatchEvent>,
    state: watch::Receiver<EngineState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EventWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventWatcher {
    pub fn spawn(docker: Docker, max_delay: std::time::Duration) -> Arc<Self> {
        let (tx, _) = broadcast::channel(1024);
        let (state_tx, state) = watch::channel(EngineState::Unknown);
        let task = tokio::spawn(run(docker, tx.clone(), state_tx, max_delay));
        Arc::new(EventWatcher { tx, state, task })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.tx.subscribe()
    }

    pub fn state(&self) -> EngineState {
        self.state.borrow().clone()
    }
}

async fn run(
    docker: Docker,
    tx: broadcast::Sender<WatchEvent>,
    state: watch::Sender<EngineState>,
    max_delay: std::time::Duration,
) {
    let mut backoff = Backoff::new(max_delay);
    loop {
        if let Err(e) = docker.negotiate().await {
            set_state(&state, EngineState::Down(e.to_string()));
            tokio::time::sleep(backoff.next_delay()).await;
            continue;
        }
        let mut events = docker.events();
        // The stream is open once Docker answered; `ping` confirms it before
        // we tell anyone the engine is up and ask waiters to look again.
        if let Err(e) = docker.ping().await {
            set_state(&state, EngineState::Down(e.to_string()));
            tokio::time::sleep(backoff.next_delay()).await;
            continue;
        }
        set_state(&state, EngineState::Up);
        let _ = tx.send(WatchEvent::Resync);
        let started = tokio::time::Instant::now();
        loop {
            match events.next().await {
                Some(Ok(ev)) => {
                    backoff.reset();
                    let _ = tx.send(WatchEvent::Container(ev));
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "Docker event stream failed");
                    break;
                }
                None => break,
            }
        }
        // Find out whether the engine went away or only the stream ended.
        match docker.ping().await {
            Ok(()) => {}
            Err(e) => set_state(&state, EngineState::Down(e.to_string())),
        }
        if started.elapsed() < std::time::Duration::from_secs(1) {
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

fn set_state(tx: &watch::Sender<EngineState>, new: EngineState) {
    tx.send_if_modified(|cur| {
        if *cur == new {
            return false;
        }
        match &new {
            EngineState::Up => tracing::info!("Docker engine is up"),
            EngineState::Down(why) => tracing::warn!(%why, "Docker engine is down"),
            EngineState::Unknown => {}
        }
        metrics::gauge!(crate::metrics::DOCKER_ENGINE_UP).set(if new == EngineState::Up {
            1.0
        } else {
            0.0
        });
        *cur = new;
        true
    });
}
