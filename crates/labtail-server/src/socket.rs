//! Socket.IO: the handshake check, the three client events, and one
//! forwarder task per (socket, container) that turns the engine's deliveries
//! into `container-log`, `container-log-gap`, `container-status` and
//! `container-log-end` events.
//!
//! Ordering: socketioxide runs each incoming event in its own task, so two
//! events of one socket could run in either order. The handlers here only
//! enqueue (synchronously, in arrival order) onto the socket's bounded
//! command queue; one worker per socket runs the commands in order. A full
//! queue answers `rate_limited` at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use labtail_logs::metrics::GaugeGuard;
use labtail_logs::{
    Action, Delivery, RunStatus, StartAt, StartError, SubscribeError, Subscription,
};
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, MaybeHttpExtension, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::handler::FromMessageParts;
use socketioxide::{SendError, SocketError};
use tokio::sync::mpsc;

use crate::auth::AuthSession;
use crate::db::Role;
use crate::state::{AppState, scope_for, session_room, user_room};
use crate::wire::{self, Code, ContainerLog, StartFrom, WireError};

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

/// Token bucket for the client events of one socket.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: std::time::Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Bucket {
            tokens: burst,
            last: std::time::Instant::now(),
            rate: f64::from(rate.max(1)),
            burst,
        }
    }

    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
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

#[derive(Debug)]
struct Watch {
    name: String,
    task: tokio::task::AbortHandle,
}

/// Held by a forwarder: the user's stream slot and the audit record of the
/// watch, both given back when the watch ends however it ends.
struct WatchSpan {
    _slot: crate::state::StreamSlot,
    audit_id: Option<i64>,
    app: AppState,
    container_id: labtail_logs::DockerId,
    username: String,
}

/// Membership of a `watching:` room for the life of one watch.
struct WatchingRoom<A: Adapter> {
    s: SocketRef<A>,
    room: String,
}

impl<A: Adapter> WatchingRoom<A> {
    fn join(s: &SocketRef<A>, room: String) -> Self {
        s.join(room.clone());
        WatchingRoom { s: s.clone(), room }
    }
}

impl<A: Adapter> Drop for WatchingRoom<A> {
    fn drop(&mut self) {
        self.s.leave(std::mem::take(&mut self.room));
    }
}

impl Drop for WatchSpan {
    fn drop(&mut self) {
        if let Some(id) = self.audit_id {
            let db = self.app.db.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = db.audit_end(id).await {
                        tracing::warn!(error = %e, "could not close the audit record");
                    }
                });
            }
        }
    }
}

/// Per-socket state, shared by the handlers, the worker and the forwarders.
#[derive(Debug)]
pub struct SocketCtx {
    pub ident: Identity,
    watches: Mutex<HashMap<String, Watch>>,
    /// The socket's worker, started by its first event: most sockets of a
    /// class sit idle, and an idle socket should cost as little as possible.
    worker: Mutex<WorkerSlot>,
    bucket: Mutex<Bucket>,
    /// Whether this socket has the dashboard open.
    dashboard: std::sync::atomic::AtomicBool,
    _gauge: GaugeGuard,
}

#[derive(Debug, Default)]
enum WorkerSlot {
    #[default]
    NotStarted,
    Running(Worker),
    Closed,
}

#[derive(Debug)]
struct Worker {
    cmd_tx: mpsc::Sender<(Cmd, Value, Reply)>,
    /// Rejections that found the socket's outgoing buffer full, to retry.
    retry_tx: mpsc::Sender<(Reply, Value)>,
    task: tokio::task::AbortHandle,
}

impl SocketCtx {
    fn watches(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watch>> {
        self.watches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with the socket's worker, starting it on first use; `None`
    /// once the socket is closed.
    fn with_worker<T, A: Adapter>(
        self: &Arc<Self>,
        s: &SocketRef<A>,
        app: &AppState,
        f: impl FnOnce(&Worker) -> T,
    ) -> Option<T> {
        let mut slot = self.worker.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*slot, WorkerSlot::NotStarted) {
            *slot = WorkerSlot::Running(start_worker(s, self, app));
        }
        match &*slot {
            WorkerSlot::Running(w) => Some(f(w)),
            _ => None,
        }
    }

    /// Stops every stream of the socket (on disconnect).
    fn close(&self) {
        for (_, w) in self.watches().drain() {
            w.task.abort();
        }
        let old = std::mem::replace(
            &mut *self.worker.lock().unwrap_or_else(|p| p.into_inner()),
            WorkerSlot::Closed,
        );
        if let WorkerSlot::Running(w) = old {
            w.task.abort();
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
        tokio::join!(run_worker(s, ctx, rx, app), retries);
    });
    Worker {
        cmd_tx,
        retry_tx,
        task: task.abort_handle(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Cmd {
    Start,
    Stop,
    List,
    WatchDashboard,
    StopDashboard,
}

impl Cmd {
    const ALL: [Cmd; 5] = [
        Cmd::Start,
        Cmd::Stop,
        Cmd::List,
        Cmd::WatchDashboard,
        Cmd::StopDashboard,
    ];

    fn event(self) -> &'static str {
        match self {
            Cmd::Start => "start-container-logs",
            Cmd::Stop => "stop-container-logs",
            Cmd::List => "list-containers",
            Cmd::WatchDashboard => "watch-dashboard",
            Cmd::StopDashboard => "stop-dashboard",
        }
    }
}

#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Registers the default namespace. Handshakes without a logged-in session
/// are refused with `connect_error` `{message: "unauthenticated"}`.
pub async fn register(io: &crate::cluster::Io) -> Result<(), crate::cluster::RedisError> {
    match io {
        crate::cluster::Io::Local(io) => {
            io.ns("/", connected.with(authenticate));
            Ok(())
        }
        // With Redis, the namespace's adapter subscribes to its channels
        // here; a failure is a start-up error.
        crate::cluster::Io::Redis(io) => io
            .ns("/", connected.with(authenticate))
            .await
            .map_err(|e| crate::cluster::RedisError(e.to_string())),
    }
}

/// What a Socket.IO handshake needs of the HTTP session, taken from it by
/// [`prepare_request`] before engine.io keeps the request for the life of
/// the socket.
#[derive(Debug, Clone)]
pub struct HandshakeAuth {
    user_id: i64,
    username: String,
    role: Role,
    auth_hash: String,
    session_id: String,
    login_at: i64,
}

/// Runs on every engine.io request, after the session layers. engine.io
/// keeps the request's parts (URI, headers, extensions) as long as the
/// socket lives, so what it keeps should be small:
/// - the logged-in session becomes a [`HandshakeAuth`]; the session itself
///   (its whole record) is not kept, nor any other extension but the ones
///   engine.io and the handshake use;
/// - the URI and headers are copied out of hyper's read buffer: they are
///   slices of it (so is the cookie jar's copy of the Cookie header), and
///   would otherwise pin all of it (8-16 KiB) per socket.
pub async fn prepare_request(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !req.uri().path().starts_with("/socket.io") {
        return next.run(req).await;
    }
    let mut ext = std::mem::take(req.extensions_mut());
    let kept = req.extensions_mut();
    if let Some(upgrade) = ext.remove::<hyper::upgrade::OnUpgrade>() {
        kept.insert(upgrade);
    }
    if let Some(peer) = ext.remove::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
        kept.insert(peer);
    }
    if let Some(auth) = ext.remove::<AuthSession>()
        && let (Some(user), Some(sid)) = (auth.user.as_ref(), auth.session.id())
    {
        let login_at: i64 = auth
            .session
            .get(crate::api::LOGIN_AT)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        req.extensions_mut().insert(HandshakeAuth {
            user_id: user.id,
            username: user.username.clone(),
            role: user.role,
            auth_hash: user.auth_hash().to_owned(),
            session_id: sid.to_string(),
            login_at,
        });
    }
    drop(ext);
    detach_from_read_buffer(&mut req);
    next.run(req).await
}

fn detach_from_read_buffer(req: &mut axum::extract::Request) {
    use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
    let mut headers = HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        let (Ok(name), Ok(mut copy)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) else {
            continue;
        };
        copy.set_sensitive(value.is_sensitive());
        headers.append(name, copy);
    }
    *req.headers_mut() = headers;
    if let Ok(uri) = Uri::try_from(req.uri().to_string()) {
        *req.uri_mut() = uri;
    }
}

async fn authenticate<A: Adapter>(
    s: SocketRef<A>,
    State(app): State<AppState>,
    MaybeHttpExtension(auth): MaybeHttpExtension<HandshakeAuth>,
) -> Result<(), Refused> {
    let refuse = |why| {
        metrics::counter!(crate::metrics::SOCKETS_REFUSED, "reason" => why).increment(1);
        Err(Refused(why))
    };
    let Some(user) = auth else {
        return refuse("unauthenticated");
    };
    let open = app
        .io()
        .map_or(0, |io| io.local_count(user_room(user.user_id)));
    if open >= app.cfg.max_sockets_per_user {
        metrics::counter!(crate::metrics::LIMIT_HITS, "limit" => "sockets_per_user").increment(1);
        return refuse("too_many_sockets");
    }
    let parts = s.req_parts();
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let ip = crate::state::client_ip(&parts.headers, peer, app.cfg.trust_forwarded_for);
    set_up(
        &s,
        &app,
        Identity {
            user_id: user.user_id,
            username: user.username,
            role: user.role,
            session_id: user.session_id,
            auth_hash: user.auth_hash,
            login_at: user.login_at,
            ip,
        },
    );
    Ok(())
}

/// The connect handler proper has nothing left to do: see [`set_up`].
async fn connected<A: Adapter>(_: SocketRef<A>) {}

/// Joins the socket's rooms and registers its event handlers. Runs in the
/// connect middleware, which socketioxide awaits *before* it sends the
/// CONNECT packet; its connect handler, by contrast, is spawned *after*
/// CONNECT went out. socket.io-client sends what a page emitted before or
/// at connect the instant CONNECT arrives, so handlers registered in the
/// connect handler could miss it: socketioxide drops an event that finds no
/// handler. Registered here, every event finds its handler.
/// (docs/socketio.md has the details and the upstream report.)
fn set_up<A: Adapter>(s: &SocketRef<A>, app: &AppState, ident: Identity) {
    s.join([
        user_room(ident.user_id),
        session_room(&ident.session_id),
        crate::dashboard::owner_room(&ident.username),
    ]);
    if ident.role == Role::Instructor {
        s.join(crate::dashboard::INSTRUCTORS_ROOM);
    }
    s.extensions.insert(ident.clone());
    let ctx = Arc::new(SocketCtx {
        ident,
        watches: Mutex::new(HashMap::new()),
        worker: Mutex::new(WorkerSlot::NotStarted),
        bucket: Mutex::new(Bucket::new(
            app.cfg.socket_events_per_second,
            app.cfg.socket_events_burst,
        )),
        dashboard: std::sync::atomic::AtomicBool::new(false),
        _gauge: GaugeGuard::new(crate::metrics::SOCKETS_CONNECTED),
    });
    s.extensions.insert(ctx.clone());

    for cmd in Cmd::ALL {
        let ctx = ctx.clone();
        let app = app.clone();
        s.on(
            cmd.event(),
            move |s: SocketRef<A>, reply: Reply, TryData(v): TryData<Value>| {
                // Runs synchronously in arrival order; only the future is spawned.
                let v = v.unwrap_or(Value::Null);
                let allowed = ctx.bucket.lock().unwrap_or_else(|p| p.into_inner()).take();
                let rejection = if allowed {
                    let sent = ctx.with_worker(&s, &app, |w| w.cmd_tx.try_send((cmd, v, reply)));
                    match sent {
                        Some(Ok(())) | None => None,
                        Some(Err(mpsc::error::TrySendError::Full((_, _, reply)))) => Some((
                            reply,
                            "too many requests on this socket; wait for the answers",
                        )),
                        Some(Err(mpsc::error::TrySendError::Closed(_))) => None,
                    }
                } else {
                    metrics::counter!(crate::metrics::LIMIT_HITS, "limit" => "socket_events")
                        .increment(1);
                    Some((reply, "too many events on this socket; slow down"))
                };
                if let Some((reply, why)) = rejection {
                    count_event(cmd, Code::RateLimited.as_str());
                    let answer = WireError::new(Code::RateLimited, why).ack();
                    if !reply.try_send(&answer) {
                        // The outgoing buffer is full: retry from a task, as
                        // long as the retry queue has room.
                        let queued = ctx.with_worker(&s, &app, |w| {
                            w.retry_tx.try_send((reply, answer)).is_ok()
                        });
                        if queued != Some(true) {
                            metrics::counter!(crate::metrics::ACKS_DROPPED, "reason" => "flood")
                                .increment(1);
                        }
                    }
                }
                async {}
            },
        );
    }
    let ctx_d = ctx.clone();
    let app_d = app.clone();
    s.on_disconnect(move || {
        ctx_d.close();
        if ctx_d
            .dashboard
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            app_d.dashboard.remove_viewer();
        }
        async {}
    });
}

fn count_event(cmd: Cmd, result: &'static str) {
    metrics::counter!(crate::metrics::SOCKET_EVENTS, "event" => cmd.event(), "result" => result)
        .increment(1);
}

async fn run_worker<A: Adapter>(
    s: SocketRef<A>,
    ctx: Arc<SocketCtx>,
    mut rx: mpsc::Receiver<(Cmd, Value, Reply)>,
    app: AppState,
) {
    while let Some((cmd, v, ack)) = rx.recv().await {
        let (answer, then) = match cmd {
            Cmd::Start => match start(&ctx, &app, &v).await {
                Ok((answer, then)) => (Ok(answer), then),
                Err(e) => (Err(e), Then::Nothing),
            },
            Cmd::Stop => (stop(&ctx, &v), Then::Nothing),
            Cmd::List => (list(&ctx, &app, &v).await, Then::Nothing),
            Cmd::WatchDashboard => match watch_dashboard(&s, &ctx, &app, &v).await {
                Ok(a) => (Ok(a), Then::Snapshot),
                Err(e) => (Err(e), Then::Nothing),
            },
            Cmd::StopDashboard => (stop_dashboard(&s, &ctx, &app, &v), Then::Nothing),
        };
        let payload = match &answer {
            Ok(v) => {
                count_event(cmd, "ok");
                v.clone()
            }
            Err(e) => {
                count_event(cmd, e.code.as_str());
                e.ack()
            }
        };
        ack.send(&payload).await;
        // The stream starts only after the ack went out, so a client always
        // sees its ack before the first `container-log`.
        match then {
            Then::Nothing => {}
            Then::Snapshot => {
                if let Some(snapshot) = app.dashboard.latest() {
                    emit(&s, "dashboard", &snapshot).await;
                }
            }
            Then::Stream(sub, span) => spawn_forwarder(&s, &ctx, sub, span),
            Then::Wait(plan, slot) => spawn_waiter(&s, &ctx, &app, plan, slot),
        }
        if matches!(&answer, Err(e) if e.code == Code::Unauthenticated) {
            let _ = s.clone().disconnect();
            return;
        }
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

fn internal(e: impl std::fmt::Display) -> WireError {
    tracing::error!(error = %e, "internal error");
    WireError::new(Code::Internal, "internal error; see the server log")
}

/// A failed lookup: a name several Docker hosts have is the client's to
/// qualify (`host/name`); anything else is the engine being away.
fn lookup_error(e: labtail_logs::DockerError) -> WireError {
    match e {
        labtail_logs::DockerError::Ambiguous(names) => WireError::invalid(format!(
            "several Docker hosts have a container of that name ({}); use host/name",
            names.join(", ")
        )),
        other => unavailable(other),
    }
}

fn unavailable(e: impl std::fmt::Display) -> WireError {
    WireError::new(
        Code::Unavailable,
        format!("the Docker engine is not available: {e}"),
    )
}

/// Re-reads the user: a removed user or changed password fails here even if
/// the periodic check has not run yet.
async fn current_user(ctx: &SocketCtx, app: &AppState) -> Result<crate::db::UserRow, WireError> {
    let user = app
        .db
        .user_by_id(ctx.ident.user_id)
        .await
        .map_err(internal)?;
    match user {
        Some(u) if u.auth_hash() == ctx.ident.auth_hash => Ok(u),
        _ => Err(WireError::new(
            Code::Unauthenticated,
            "your session has ended; log in again",
        )),
    }
}

/// What the worker does after sending a `start-container-logs` ack.
enum Then {
    Nothing,
    /// Send the latest dashboard snapshot (after a watch-dashboard ack).
    Snapshot,
    Stream(Subscription, WatchSpan),
    Wait(WaitPlan, crate::state::StreamSlot),
}

/// A container asked for with `wait` that is not (yet) in the user's scope.
struct WaitPlan {
    name: String,
    scope: labtail_logs::Scope,
    at: StartAt,
    until: tokio::time::Instant,
}

fn start_at(from: &StartFrom, max_tail: u64) -> (StartAt, Option<u64>) {
    match *from {
        StartFrom::Tail(n) => {
            let n = n.min(max_tail);
            (StartAt::Tail(n as usize), Some(n))
        }
        StartFrom::After(m) => (StartAt::After(m), None),
        StartFrom::Since(t) => (StartAt::Since(t), None),
    }
}

fn subscribe_error(e: SubscribeError) -> WireError {
    match e {
        SubscribeError::Start(StartError::NotFound) => WireError::forbidden_or_missing(),
        SubscribeError::Start(StartError::Unreadable(m)) => WireError::new(
            Code::Unavailable,
            format!("Docker cannot read this container's log: {m}"),
        ),
        other => unavailable(other),
    }
}

async fn start(ctx: &SocketCtx, app: &AppState, v: &Value) -> Result<(Value, Then), WireError> {
    let req = wire::parse_start(v, app.cfg.default_tail)?;
    let user = current_user(ctx, app).await?;
    let scope = scope_for(user.role, &user.username);
    let max_tail = app.engine.config().backlog_lines as u64;
    let (at, tail) = start_at(&req.from, max_tail);
    let found = app
        .engine
        .find(&scope, &req.container_name)
        .await
        .map_err(lookup_error)?;
    let streams = ctx.watches().len();
    let Some(container) = found else {
        if req.wait_secs == 0 {
            return Err(WireError::forbidden_or_missing());
        }
        // Waiting answers the same for "not created yet" and "not yours":
        // both wait, both end with reason "not-found" at the deadline.
        if streams >= app.cfg.max_streams_per_socket {
            return Err(too_many_streams(app));
        }
        let slot = app
            .take_stream_slot(user.id)
            .ok_or_else(|| too_many_user_streams(app))?;
        let secs = req.wait_secs.min(app.cfg.max_wait.as_secs());
        let answer = json!({
            "ok": true,
            "containerName": req.container_name,
            "state": "waiting",
            "wait": secs,
        });
        return Ok((
            answer,
            Then::Wait(
                WaitPlan {
                    name: req.container_name,
                    scope,
                    at,
                    until: tokio::time::Instant::now() + Duration::from_secs(secs),
                },
                slot,
            ),
        ));
    };
    if ctx.watches().contains_key(container.id.as_str()) {
        return Ok((
            json!({"ok": true, "containerName": container.name, "alreadyWatching": true}),
            Then::Nothing,
        ));
    }
    if streams >= app.cfg.max_streams_per_socket {
        return Err(too_many_streams(app));
    }
    let slot = app
        .take_stream_slot(user.id)
        .ok_or_else(|| too_many_user_streams(app))?;
    let sub = app
        .engine
        .subscribe(&container, at)
        .await
        .map_err(subscribe_error)?;
    let span = watch_span(app, ctx, slot, &container).await;
    let mut answer = json!({
        "ok": true,
        "containerName": container.name,
        "state": status_name(sub.status()),
    });
    if let Some(t) = tail {
        answer["tail"] = json!(t);
    }
    Ok((answer, Then::Stream(sub, span)))
}

/// Opens the audit record of a watch; it is closed when the span drops.
async fn watch_span(
    app: &AppState,
    ctx: &SocketCtx,
    slot: crate::state::StreamSlot,
    container: &labtail_logs::ContainerInfo,
) -> WatchSpan {
    let audit_id = crate::api::audit(
        app,
        "watch",
        &ctx.ident.username,
        ctx.ident.ip,
        Some(&container.name),
        None,
    )
    .await;
    WatchSpan {
        _slot: slot,
        audit_id,
        app: app.clone(),
        container_id: container.id.clone(),
        username: ctx.ident.username.clone(),
    }
}

fn too_many_user_streams(app: &AppState) -> WireError {
    metrics::counter!(crate::metrics::LIMIT_HITS, "limit" => "streams_per_user").increment(1);
    WireError::new(
        Code::TooManyStreams,
        format!(
            "you may watch at most {} containers at once over all your tabs; stop one first",
            app.cfg.max_streams_per_user
        ),
    )
}

fn too_many_streams(app: &AppState) -> WireError {
    metrics::counter!(crate::metrics::LIMIT_HITS, "limit" => "streams_per_socket").increment(1);
    WireError::new(
        Code::TooManyStreams,
        format!(
            "a socket may watch at most {} containers; stop one first",
            app.cfg.max_streams_per_socket
        ),
    )
}

/// Waits (bounded) for a container to appear in the user's scope, then
/// streams it like any other. The watch is registered under `wait:<name>`
/// until then, so `stop-container-logs` cancels the wait.
fn spawn_waiter<A: Adapter>(
    s: &SocketRef<A>,
    ctx: &Arc<SocketCtx>,
    app: &AppState,
    plan: WaitPlan,
    slot: crate::state::StreamSlot,
) {
    let key = format!("wait:{}", plan.name);
    let name = plan.name.clone();
    let handle = Arc::new(std::sync::OnceLock::<tokio::task::AbortHandle>::new());
    let task = tokio::spawn(wait_then_forward(
        s.clone(),
        Arc::downgrade(ctx),
        app.clone(),
        plan,
        slot,
        key.clone(),
        handle.clone(),
    ));
    let _ = handle.set(task.abort_handle());
    ctx.watches().insert(
        key,
        Watch {
            name,
            task: task.abort_handle(),
        },
    );
}

async fn wait_then_forward<A: Adapter>(
    s: SocketRef<A>,
    ctx: std::sync::Weak<SocketCtx>,
    app: AppState,
    plan: WaitPlan,
    slot: crate::state::StreamSlot,
    key: String,
    me: Arc<std::sync::OnceLock<tokio::task::AbortHandle>>,
) {
    use labtail_logs::WatchEvent;
    use tokio::sync::broadcast::error::RecvError;
    let mut events = app.engine.container_events();
    let found = loop {
        // Look after subscribing to events, so a creation in between is seen.
        if let Ok(Some(c)) = app.engine.find(&plan.scope, &plan.name).await {
            break Some(c);
        }
        let woke = loop {
            tokio::select! {
                _ = tokio::time::sleep_until(plan.until) => break false,
                ev = events.recv() => match ev {
                    Ok(WatchEvent::Container(e))
                        if matches!(e.action, Action::Create | Action::Start | Action::Rename) => break true,
                    Ok(WatchEvent::Resync) | Err(RecvError::Lagged(_)) => break true,
                    Err(RecvError::Closed) => break false,
                    Ok(_) => {}
                },
            }
        };
        if !woke {
            break None;
        }
    };
    let Some(container) = found else {
        let _ = emit(
            &s,
            "container-log-end",
            &json!({"containerName": plan.name, "reason": "not-found"}),
        )
        .await;
        if let Some(ctx) = ctx.upgrade() {
            ctx.watches().remove(&key);
        }
        return;
    };
    let sub = match app.engine.subscribe(&container, plan.at).await {
        Ok(sub) => sub,
        Err(e) => {
            let e = subscribe_error(e);
            let _ = emit(
                &s,
                "container-log-end",
                &json!({"containerName": plan.name, "reason": e.code.as_str()}),
            )
            .await;
            if let Some(ctx) = ctx.upgrade() {
                ctx.watches().remove(&key);
            }
            return;
        }
    };
    // From here on it is an ordinary watch, keyed by the container's ID.
    if let (Some(ctx), Some(handle)) = (ctx.upgrade(), me.get()) {
        let mut w = ctx.watches();
        w.remove(&key);
        w.insert(
            container.id.as_str().to_owned(),
            Watch {
                name: container.name.clone(),
                task: handle.clone(),
            },
        );
    }
    let mut status = json!({"containerName": container.name, "state": status_name(sub.status())});
    if plan.name != container.name {
        status["requestedName"] = json!(plan.name);
    }
    if !emit(&s, "container-status", &status).await {
        return;
    }
    let span = match ctx.upgrade() {
        Some(c) => watch_span(&app, &c, slot, &container).await,
        None => return,
    };
    forward(s, ctx, sub, span).await;
}

async fn watch_dashboard<A: Adapter>(
    s: &SocketRef<A>,
    ctx: &SocketCtx,
    app: &AppState,
    v: &Value,
) -> Result<Value, WireError> {
    wire::parse_list(v)?;
    let user = current_user(ctx, app).await?;
    if user.role != Role::Instructor {
        return Err(WireError::new(
            Code::Forbidden,
            "the dashboard is for instructors",
        ));
    }
    if !ctx
        .dashboard
        .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        s.join(crate::dashboard::DASHBOARD_ROOM);
        app.dashboard.add_viewer(app);
    }
    Ok(json!({"ok": true}))
}

fn stop_dashboard<A: Adapter>(
    s: &SocketRef<A>,
    ctx: &SocketCtx,
    app: &AppState,
    v: &Value,
) -> Result<Value, WireError> {
    wire::parse_list(v)?;
    let was = ctx
        .dashboard
        .swap(false, std::sync::atomic::Ordering::SeqCst);
    if was {
        s.leave(crate::dashboard::DASHBOARD_ROOM);
        app.dashboard.remove_viewer();
    }
    Ok(json!({"ok": true, "wasWatching": was}))
}

fn stop(ctx: &SocketCtx, v: &Value) -> Result<Value, WireError> {
    let name = wire::parse_stop(v)?;
    // Only this socket's own watches are looked at: no Docker call, nothing
    // to leak. Matches the name the watch was started under, or the ID.
    // With several Docker hosts a watch is named `host/name`; a plain name
    // stops it when no other watch of the socket has that name too.
    let mut watches = ctx.watches();
    let exact = watches
        .iter()
        .find(|(id, w)| w.name == name || (name.len() >= 12 && id.starts_with(&name)))
        .map(|(id, _)| id.clone());
    let key = exact.or_else(|| {
        let mut plain = watches
            .iter()
            .filter(|(_, w)| w.name.split_once('/').is_some_and(|(_, n)| n == name));
        match (plain.next(), plain.next()) {
            (Some((id, _)), None) => Some(id.clone()),
            _ => None,
        }
    });
    let was_watching = match key.and_then(|k| watches.remove(&k)) {
        Some(w) => {
            w.task.abort();
            true
        }
        None => false,
    };
    Ok(json!({"ok": true, "containerName": name, "wasWatching": was_watching}))
}

async fn list(ctx: &SocketCtx, app: &AppState, v: &Value) -> Result<Value, WireError> {
    wire::parse_list(v)?;
    let user = current_user(ctx, app).await?;
    let scope = scope_for(user.role, &user.username);
    let list = app.engine.list(&scope).await.map_err(unavailable)?;
    let containers: Vec<Value> = list.iter().map(wire::container_json).collect();
    Ok(json!({"ok": true, "containers": containers}))
}

pub fn status_name(s: &RunStatus) -> &'static str {
    match s {
        RunStatus::Running => "running",
        RunStatus::Exited { .. } => "exited",
        RunStatus::EngineDown => "engine-down",
        RunStatus::Removed => "removed",
    }
}

fn spawn_forwarder<A: Adapter>(
    s: &SocketRef<A>,
    ctx: &Arc<SocketCtx>,
    sub: Subscription,
    span: WatchSpan,
) {
    let id = sub.container().id.as_str().to_owned();
    let name = sub.container().name.clone();
    let task = tokio::spawn(forward(s.clone(), Arc::downgrade(ctx), sub, span));
    ctx.watches().insert(
        id,
        Watch {
            name,
            task: task.abort_handle(),
        },
    );
}

async fn forward<A: Adapter>(
    s: SocketRef<A>,
    ctx: std::sync::Weak<SocketCtx>,
    mut sub: Subscription,
    span: WatchSpan,
) {
    let _gauge = GaugeGuard::new(crate::metrics::WATCHES_ACTIVE);
    // The room says who watches what, on every node (the dashboard's
    // "watching" column); the guard leaves it however the watch ends.
    let _room = WatchingRoom::join(
        &s,
        crate::dashboard::watching_room(span.container_id.as_str(), &span.username),
    );
    let _span = span;
    let name = sub.container().name.clone();
    let id = sub.container().id.as_str().to_owned();
    while let Some(d) = sub.next().await {
        let sent = match d {
            Delivery::Lines(slice) => {
                let lines = slice.lines();
                let event = ContainerLog {
                    container_name: &name,
                    lines,
                };
                // A whole batch is encoded once, by whichever of its
                // subscribers sends it first; the rest send those bytes.
                // (Every subscriber of a hub uses the hub's container name.)
                let shared = slice
                    .is_whole()
                    .then(|| {
                        slice.batch.rendered.get_or_init(|| {
                            serde_json::to_string(&event).ok().and_then(|json| {
                                serde_json::value::RawValue::from_string(json).ok()
                            })
                        })
                    })
                    .flatten()
                    .and_then(|r| r.as_deref());
                let ok = match shared {
                    Some(raw) => emit(&s, "container-log", raw).await,
                    None => emit(&s, "container-log", &event).await,
                };
                if ok {
                    metrics::counter!(crate::metrics::LINES_EMITTED).increment(lines.len() as u64);
                }
                ok
            }
            Delivery::Gap { from, to, count } => {
                emit(
                    &s,
                    "container-log-gap",
                    &json!({
                        "containerName": name,
                        "from": from.map(|c| c.to_string()),
                        "to": to.map(|c| c.to_string()),
                        "count": count,
                    }),
                )
                .await
            }
            Delivery::Status(st) => {
                let mut status = json!({"containerName": name, "state": status_name(&st)});
                let end = match &st {
                    RunStatus::Exited { exit_code } => {
                        status["exitCode"] = json!(exit_code);
                        Some(
                            json!({"containerName": name, "reason": "exited", "exitCode": exit_code}),
                        )
                    }
                    RunStatus::Removed => Some(json!({"containerName": name, "reason": "removed"})),
                    _ => None,
                };
                let mut ok = emit(&s, "container-status", &status).await;
                if let Some(end) = end {
                    ok = ok && emit(&s, "container-log-end", &end).await;
                }
                ok
            }
        };
        if !sent {
            break;
        }
    }
    // The stream is over (container removed, or the socket went away):
    // forget the watch so the client can start it again.
    if let Some(ctx) = ctx.upgrade() {
        ctx.watches().remove(&id);
    }
}

/// Emits, waiting while the socket's outgoing buffer is full. Waiting here
/// never slows anyone else: meanwhile this subscription's own bounded queue
/// fills, and past its bound it drops its oldest lines (reported as a gap).
/// False when the socket is gone.
async fn emit<T: serde::Serialize + ?Sized, A: Adapter>(
    s: &SocketRef<A>,
    event: &str,
    data: &T,
) -> bool {
    let mut delay = Duration::from_millis(1);
    loop {
        match s.emit(event, data) {
            Ok(()) => return true,
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(SendError::Socket(SocketError::Closed)) => return false,
            Err(SendError::Serialize(e)) => {
                tracing::error!(error = %e, event, "cannot serialise event");
                return false;
            }
        }
    }
}

/// Ends the sockets of users that were removed or whose password changed,
/// and (with a shared database) of sessions another node ended.
/// Runs every `auth_recheck_interval`; logout on this node is immediate.
pub async fn recheck_sockets(app: AppState) {
    let mut tick = tokio::time::interval(app.cfg.auth_recheck_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(io) = app.io() {
            crate::cluster::with_io!(io, io => {
                if let Some(ns) = io.of("/") {
                    sweep(&app, ns.local().sockets()).await;
                }
            });
        }
    }
}

/// One re-check of this node's sockets.
async fn sweep<A: Adapter>(app: &AppState, sockets: Vec<SocketRef<A>>) {
    let shared = app.db.is_shared();
    let mut by_user: HashMap<i64, Vec<(String, SocketRef<A>)>> = HashMap::new();
    let mut by_sid: HashMap<String, Vec<SocketRef<A>>> = HashMap::new();
    let max_age = app.cfg.session_max_age.as_secs() as i64;
    let now = crate::api::now_secs();
    for s in sockets {
        if let Some(id) = s.extensions.get::<Identity>() {
            if now - id.login_at > max_age {
                tracing::info!(user = %id.username, "ending socket of a session past its maximum age");
                let _ = s.disconnect();
                continue;
            }
            if shared {
                by_sid
                    .entry(id.session_id.clone())
                    .or_default()
                    .push(s.clone());
            }
            by_user
                .entry(id.user_id)
                .or_default()
                .push((id.auth_hash.clone(), s));
        }
    }
    check_shared_sessions(app, by_sid).await;
    if by_user.is_empty() {
        return;
    }
    let ids: Vec<i64> = by_user.keys().copied().collect();
    let current = match app.db.auth_hashes(&ids).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not re-check socket users");
            return;
        }
    };
    for (uid, sockets) in by_user {
        for (hash, s) in sockets {
            if current.get(&uid) != Some(&hash) {
                tracing::info!(
                    user_id = uid,
                    "ending socket of removed user or old password"
                );
                let _ = s.disconnect();
            }
        }
    }
}

/// With a database several nodes share, a logout on another node deletes
/// the session there, and only the store says so: end its sockets here too.
/// A session with sockets open is in use, so it is kept from expiring, as an
/// HTTP request would keep it.
async fn check_shared_sessions<A: Adapter>(
    app: &AppState,
    by_sid: HashMap<String, Vec<SocketRef<A>>>,
) {
    if by_sid.is_empty() {
        return;
    }
    let ids: Vec<String> = by_sid.keys().cloned().collect();
    let live = match app.db.live_sessions(&ids).await {
        Ok(Some(live)) => live,
        Ok(None) => return,
        Err(e) => {
            // The database is away: keep streaming rather than end every
            // socket; the next sweep checks again.
            tracing::warn!(error = %e, "could not check sessions in the shared store");
            return;
        }
    };
    let now = crate::api::now_secs();
    let idle = app.cfg.session_idle_timeout;
    let half = i64::try_from(idle.as_secs() / 2).unwrap_or(i64::MAX);
    for (sid, sockets) in by_sid {
        match live.get(&sid) {
            None => {
                tracing::info!(
                    sockets = sockets.len(),
                    "ending the sockets of a session that ended on another node"
                );
                for s in sockets {
                    let _ = s.disconnect();
                }
            }
            Some(&expiry) if expiry - now < half => keep_alive(app, &sid, idle).await,
            Some(_) => {}
        }
    }
}

async fn keep_alive(app: &AppState, sid: &str, idle: Duration) {
    use tower_sessions::SessionStore;
    let Ok(id) = sid.parse::<tower_sessions::session::Id>() else {
        return;
    };
    let record = match app.sessions.load(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not load a session to keep it alive");
            return;
        }
    };
    let mut record = record;
    record.expiry_date = time::OffsetDateTime::now_utc() + idle;
    if let Err(e) = app.sessions.save(&record).await {
        tracing::warn!(error = %e, "could not keep a session alive");
    }
}
