//! One socket's events, in order: the handlers that queue them, the worker
//! that runs them, and the `Reply` that answers each one.
//!
//! socketioxide runs each incoming event in its own task, so two events of
//! one socket could run in either order. The handlers here only parse and
//! enqueue (synchronously, in arrival order) onto the socket's bounded
//! queue; one worker per socket runs the commands in order. A full queue or
//! an empty event budget answers `rate_limited` at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::FromMessageParts;
use socketioxide::{SendError, SocketError};
use tokio::sync::mpsc;

use super::command;
use super::ctx::SocketCtx;
use crate::state::AppState;
use crate::wire::{ClientEvent, Code, EventName, WireError};

/// Token bucket for the client events of one socket.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Bucket {
            tokens: burst,
            last: Instant::now(),
            rate: f64::from(rate.max(1)),
            burst,
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// An event as the worker gets it: parsed (or why not), with its answer.
type Queued = (EventName, Result<ClientEvent, WireError>, Reply);

#[derive(Debug, Default)]
enum WorkerSlot {
    #[default]
    NotStarted,
    Running(Worker),
    Closed,
}

impl WorkerSlot {
    fn abort(self) {
        if let WorkerSlot::Running(w) = self {
            w.task.abort();
        }
    }
}

#[derive(Debug)]
struct Worker {
    cmd_tx: mpsc::Sender<Queued>,
    /// Rejections that found the socket's outgoing buffer full, to retry.
    retry_tx: mpsc::Sender<(Reply, Value)>,
    task: tokio::task::AbortHandle,
}

/// A socket's event queue: its budget and its worker.
#[derive(Debug)]
pub(super) struct Inbox {
    /// Started by the socket's first event: most sockets of a class sit
    /// idle, and an idle socket should cost as little as possible.
    worker: Mutex<WorkerSlot>,
    bucket: Mutex<Bucket>,
}

impl Inbox {
    fn new(cfg: &crate::config::ServerConfig) -> Self {
        Inbox {
            worker: Mutex::new(WorkerSlot::default()),
            bucket: Mutex::new(Bucket::new(
                cfg.socket_events_per_second,
                cfg.socket_events_burst,
            )),
        }
    }

    /// Stops the worker for good (on disconnect).
    pub(super) fn close(&self) {
        let old = std::mem::replace(
            &mut *self.worker.lock().unwrap_or_else(|p| p.into_inner()),
            WorkerSlot::Closed,
        );
        old.abort();
    }

    /// Runs `f` with the socket's worker, starting it on first use; `None`
    /// once the socket is closed.
    fn with_worker<T, A: Adapter>(
        &self,
        ctx: &Arc<SocketCtx>,
        s: &SocketRef<A>,
        app: &AppState,
        f: impl FnOnce(&Worker) -> T,
    ) -> Option<T> {
        let mut slot = self.worker.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*slot, WorkerSlot::NotStarted) {
            *slot = WorkerSlot::Running(start_worker(s, ctx, app));
        }
        match &*slot {
            WorkerSlot::Running(w) => Some(f(w)),
            _ => None,
        }
    }
}

/// Starts the worker that answers a socket's events one at a time, in order.
fn start_worker<A: Adapter>(s: &SocketRef<A>, ctx: &Arc<SocketCtx>, app: &AppState) -> Worker {
    let (cmd_tx, rx) = mpsc::channel(app.cfg.socket_queue.max(1));
    let (retry_tx, mut retry_rx) = mpsc::channel::<(Reply, Value)>(app.cfg.socket_queue.max(1));
    let (s, ctx, app) = (s.clone(), ctx.clone(), app.clone());
    let task = tokio::spawn(async move {
        // Rejections retried here never hold up the worker's answers.
        let retries = async move {
            while let Some((reply, answer)) = retry_rx.recv().await {
                reply.send(&answer).await;
            }
        };
        tokio::join!(run(s, ctx, rx, app), retries);
    });
    Worker {
        cmd_tx,
        retry_tx,
        task: task.abort_handle(),
    }
}

pub(super) fn count_event(event: EventName, result: &'static str) {
    metrics::counter!(crate::metrics::SOCKET_EVENTS, "event" => event.as_str(), "result" => result)
        .increment(1);
}

/// Registers the socket's event handler: labtail's events go to the
/// socket's ordered inbox, any other name is answered `unknown_event`
/// rather than left unanswered. The inbox is returned, to close on
/// disconnect.
pub(super) fn register_handlers<A: Adapter>(
    s: &SocketRef<A>,
    ctx: &Arc<SocketCtx>,
    app: &AppState,
) -> Arc<Inbox> {
    let inbox = Arc::new(Inbox::new(&app.cfg));
    // One handler for every event name, not one per name: socketioxide
    // keeps a map entry and a boxed handler per name for every socket, and
    // an idle socket's memory is mostly such per-session layout.
    let (ctx, app, queue) = (ctx.clone(), app.clone(), inbox.clone());
    s.on_fallback(
        move |s: SocketRef<A>, Event(name): Event, reply: Reply, TryData(v): TryData<Value>| {
            // Runs synchronously in arrival order; only the future is spawned.
            match EventName::from_name(&name) {
                Some(event) => {
                    let parsed =
                        ClientEvent::parse(event, &v.unwrap_or(Value::Null), app.cfg.default_tail);
                    queue.enqueue(&s, &ctx, &app, (event, parsed, reply));
                }
                None => {
                    let answer = WireError::new(
                        Code::UnknownEvent,
                        "labtail has no such event; see docs/protocol.md",
                    );
                    if let Ok(v) = serde_json::to_value(answer.ack()) {
                        reply.try_send(&v);
                    }
                }
            }
            async {}
        },
    );
    inbox
}

impl Inbox {
    fn enqueue<A: Adapter>(
        &self,
        s: &SocketRef<A>,
        ctx: &Arc<SocketCtx>,
        app: &AppState,
        item: Queued,
    ) {
        let event = item.0;
        let allowed = self.bucket.lock().unwrap_or_else(|p| p.into_inner()).take();
        let rejection = if allowed {
            match self.with_worker(ctx, s, app, |w| w.cmd_tx.try_send(item)) {
                Some(Ok(())) | None => None,
                Some(Err(mpsc::error::TrySendError::Full((_, _, reply)))) => Some((
                    reply,
                    "too many requests on this socket; wait for the answers",
                )),
                Some(Err(mpsc::error::TrySendError::Closed(_))) => None,
            }
        } else {
            metrics::counter!(crate::metrics::LIMIT_HITS, "limit" => "socket_events").increment(1);
            Some((item.2, "too many events on this socket; slow down"))
        };
        let Some((reply, why)) = rejection else {
            return;
        };
        count_event(event, Code::RateLimited.as_str());
        let Ok(answer) = serde_json::to_value(WireError::new(Code::RateLimited, why).ack()) else {
            return;
        };
        if !reply.try_send(&answer) {
            // The outgoing buffer is full: retry from a task, as long as the
            // retry queue has room.
            let queued = self.with_worker(ctx, s, app, |w| {
                w.retry_tx.try_send((reply, answer)).is_ok()
            });
            if queued != Some(true) {
                metrics::counter!(crate::metrics::ACKS_DROPPED, "reason" => "flood").increment(1);
            }
        }
    }
}

async fn run<A: Adapter>(
    s: SocketRef<A>,
    ctx: Arc<SocketCtx>,
    mut rx: mpsc::Receiver<Queued>,
    app: AppState,
) {
    while let Some((event, parsed, reply)) = rx.recv().await {
        let outcome = match parsed {
            Ok(ev) => command::apply(&s, &ctx, &app, ev).await,
            Err(e) => Err(e),
        };
        let (answer, then) = match outcome {
            Ok((answer, then)) => {
                count_event(event, "ok");
                (answer, then)
            }
            Err(e) => {
                count_event(event, e.code.as_str());
                let ended = e.code == Code::Unauthenticated;
                let v = serde_json::to_value(e.ack()).unwrap_or(Value::Null);
                reply.send(&v).await;
                if ended {
                    let _ = s.clone().disconnect();
                    return;
                }
                continue;
            }
        };
        reply.send(&answer).await;
        // What follows an answer (a stream, a snapshot) comes after it, so a
        // client always sees its ack before the first `container-log`.
        command::after_ack(&s, &ctx, &app, then).await;
    }
}

/// The answer to one client event. Unlike socketioxide's `AckSender` (which
/// is spent by one attempt) it can be retried: when the socket's outgoing
/// buffer is full, the answer waits for room instead of being lost.
pub struct Reply {
    socket: Box<dyn AckTarget>,
    ack_id: Option<i64>,
}

/// The socket a [`Reply`] answers on, whatever the adapter (local or Redis).
trait AckTarget: Send + Sync {
    /// One attempt; false when the outgoing buffer was full.
    fn try_ack(&self, ack_id: &Option<i64>, answer: &Value) -> bool;
    fn connected(&self) -> bool;
}

impl<A: Adapter> AckTarget for Arc<socketioxide::socket::Socket<A>> {
    fn try_ack(&self, ack_id: &Option<i64>, answer: &Value) -> bool {
        let mut dummy = socketioxide::handler::Value::Bytes(Default::default());
        let Ok(ack) = AckSender::from_message_parts(self, &mut dummy, ack_id);
        !matches!(
            ack.send(answer),
            Err(SendError::Socket(SocketError::InternalChannelFull))
        )
    }

    fn connected(&self) -> bool {
        socketioxide::socket::Socket::connected(self.as_ref())
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("ack_id", &self.ack_id)
            .finish()
    }
}

impl<A: Adapter> FromMessageParts<A> for Reply {
    type Error = std::convert::Infallible;

    fn from_message_parts(
        s: &Arc<socketioxide::socket::Socket<A>>,
        _: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        Ok(Reply {
            socket: Box::new(s.clone()),
            ack_id: *ack_id,
        })
    }
}

impl Reply {
    /// One attempt; false when the outgoing buffer was full.
    fn try_send(&self, answer: &Value) -> bool {
        self.socket.try_ack(&self.ack_id, answer)
    }

    /// Sends, waiting while the buffer is full, until sent or the socket is gone.
    async fn send(self, answer: &Value) {
        let mut delay = Duration::from_millis(1);
        while !self.try_send(answer) {
            if !self.socket.connected() {
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_its_rate() {
        let mut b = Bucket::new(10, 3);
        assert!(b.take() && b.take() && b.take());
        assert!(!b.take(), "the burst is spent");
        b.last -= Duration::from_millis(250);
        assert!(b.take() && b.take(), "250 ms at 10/s refill 2.5 events");
        assert!(!b.take());
    }
}
