//! labtail's server: HTTP + Socket.IO on one port.
//!
//! The log engine (`labtail-logs`) does the Docker side; this crate decides
//! who may see what ([`access`], [`auth`]) and speaks the wire contract
//! ([`wire`]) over Socket.IO ([`socket`]) and HTTP ([`api`], [`web`]). With
//! several nodes, [`cluster`] holds what must reach every node (through
//! Redis) and what must not (log lines). ARCHITECTURE.md has the map.

pub mod access;
pub mod api;
pub mod attention;
pub mod audit;
pub mod auth;
pub mod client_ip;
pub mod clock;
pub mod cluster;
pub mod coalesce;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod history;
pub mod listing;
pub mod metrics;
pub mod notify;
pub mod oidc;
pub mod origin;
pub mod rooms;
pub mod session_check;
pub mod sessions;
pub mod slots;
pub mod socket;
pub mod staff;
pub mod state;
pub mod throttle;
pub mod web;
pub mod wire;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum_login::AuthManagerLayerBuilder;
use labtail_logs::Fleet;
use socketioxide::SocketIo;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use config::ServerConfig;
pub use state::AppState;

/// Start-up failures. `Config` ones are the operator's to fix (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Runtime(String),
}

/// Builds the whole application: database (migrated), sessions, engine,
/// Socket.IO, routes.
pub async fn build(cfg: ServerConfig) -> Result<(Router, AppState), StartupError> {
    let engine = Fleet::new(
        &cfg.docker_hosts,
        &cfg.label_keys(),
        cfg.log_files.as_ref(),
        cfg.engine.clone(),
    )
    .map_err(|e| StartupError::Config(e.to_string()))?;
    build_with(cfg, engine).await
}

/// [`build`] over Docker engines already made (the tests' scripted ones).
pub async fn build_with(
    cfg: ServerConfig,
    engine: Fleet,
) -> Result<(Router, AppState), StartupError> {
    let origins = origin::OriginPolicy::new(&cfg.allowed_origins).map_err(StartupError::Config)?;
    // The provider is discovered before anything starts: a wrong issuer,
    // client or mapping file is a start-up error naming the flag.
    let oidc = match &cfg.oidc {
        Some(settings) => Some(std::sync::Arc::new(
            oidc::Oidc::discover(settings.clone())
                .await
                .map_err(StartupError::Config)?,
        )),
        None => None,
    };
    if cfg.max_concurrent_hashes > 0 {
        auth::set_hash_concurrency(cfg.max_concurrent_hashes);
    }
    let db = db::Db::connect_with(&cfg.database_url, cfg.db)
        .await
        .map_err(|e| match e {
            db::DbError::BadUrl { .. } => StartupError::Config(e.to_string()),
            other => StartupError::Runtime(other.to_string()),
        })?;
    let backend = auth::Backend::new(db.clone())
        .await
        .map_err(|e| StartupError::Runtime(e.to_string()))?;

    let store = sessions::Store::open(&db)
        .await
        .map_err(|e| StartupError::Runtime(format!("session table: {e}")))?;
    tokio::spawn(delete_expired_sessions(store.clone()));
    let session_store = store.clone();
    let idle = time::Duration::try_from(cfg.session_idle_timeout)
        .map_err(|e| StartupError::Config(format!("session idle timeout: {e}")))?;
    let sessions = SessionManagerLayer::new(store)
        .with_name("labtail_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(cfg.cookie_secure || cfg.tls.is_some())
        .with_expiry(Expiry::OnInactivity(idle));
    let auth_layer = AuthManagerLayerBuilder::new(backend, sessions).build();
    let metrics = metrics::install();

    match db.audit_close_open_watches().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            n,
            "closed audit records of watches open at the last shutdown"
        ),
        Err(e) => tracing::warn!(error = %e, "could not close open audit records"),
    }
    // Attention observes what history records: it needs history on.
    let attention = match (cfg.history.enabled, cfg.attention.enabled) {
        (true, true) => Some(
            attention::start(&db, &cfg.history, cfg.attention.clone(), cfg.labs.clone())
                .map_err(|e| StartupError::Config(format!("--labs-file: {e}")))?,
        ),
        _ => None,
    };
    let observer = attention
        .clone()
        .map(|a| a as std::sync::Arc<dyn labtail_history::Observer>);
    let history = cfg.history.enabled.then(|| {
        std::sync::Arc::new(history::History::start(
            &db,
            &engine,
            cfg.history.clone(),
            observer,
        ))
    });
    if let Some(a) = &attention {
        notify::spawn(a, &cfg);
        a.sample_usage(
            labtail_history::recorder::engines_of(&engine, None)
                .into_iter()
                .map(|e| (e.name, e.engine.docker().clone()))
                .collect(),
        );
    }
    let state = AppState::new(
        cfg.clone(),
        db,
        session_store,
        engine,
        metrics,
        state::Optional {
            history,
            oidc: oidc.clone(),
            attention,
        },
    );
    let builder = SocketIo::builder()
        .with_state(state.clone())
        .max_buffer_size(cfg.socket_buffer_packets.max(1))
        .max_payload(cfg.max_payload)
        // engineioxide sends the first ping right after the open packet
        // (the Node server waits one interval): a client must answer pings
        // from the start (docs/socketio.md).
        .ping_interval(cfg.ping_interval)
        .ping_timeout(cfg.ping_timeout)
        // Clients send small packets (events, acks, pongs); a big message
        // still arrives whole, the buffer only starts smaller (4 KiB by
        // default, per socket).
        .ws_read_buffer_size(1024)
        // The same bound for WebSocket messages as for polling bodies.
        .ws_max_message_size(usize::try_from(cfg.max_payload).unwrap_or(usize::MAX))
        .ws_max_frame_size(usize::try_from(cfg.max_payload).unwrap_or(usize::MAX));
    let routes = api::routes(oidc.as_deref()).merge(web::routes(cfg.web_dir.as_deref()));
    let (routes, io, redis) = match &cfg.redis_url {
        None => {
            let (layer, io) = builder.build_layer();
            (routes.layer(layer), cluster::Io::Local(io), None)
        }
        Some(url) => {
            if !state.db.is_shared() {
                tracing::warn!(
                    "--redis-url with a SQLite database: other nodes cannot share this node's users and sessions; use Postgres for several nodes"
                );
            }
            let cluster::Redis { client, adapter } =
                cluster::Redis::connect(url, cfg.redis_timeout)
                    .await
                    .map_err(|e| StartupError::Config(e.to_string()))?;
            let (layer, io) = builder
                .with_adapter::<cluster::RedisAdapter>(adapter)
                .build_layer();
            (routes.layer(layer), cluster::Io::Redis(io), Some(client))
        }
    };
    socket::register(&io)
        .await
        .map_err(|e| StartupError::Config(format!("Redis: {e}")))?;
    // Only now, with the namespace's channels subscribed.
    let redis = redis.map(cluster::RedisLink::keep_subscribed);
    state.set_io(io, redis);
    tokio::spawn(session_check::recheck_sockets(state.clone()));
    tokio::spawn(dashboard::push_container_updates(state.clone()));

    // The layers every request goes through, outermost first. Socket.IO
    // (the layer on `routes`) sees a request only after all of them.
    let layers = ServiceBuilder::new()
        // A span per request.
        .layer(TraceLayer::new_for_http())
        // Cross-site requests are refused before anything else is read.
        .layer(axum::middleware::from_fn_with_state(
            origins,
            origin::check_origin,
        ))
        // HTTP bodies (login, API) are small.
        .layer(DefaultBodyLimit::max(64 * 1024))
        // The session cookie → the logged-in user (tower-sessions, axum-login).
        .layer(auth_layer)
        // A session past its maximum age is logged out here.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::middleware::enforce_session_age,
        ))
        // A long-polling packet over --max-payload gets a clear 413.
        .layer(axum::middleware::from_fn_with_state(
            cfg.max_payload,
            api::middleware::limit_socket_payload,
        ))
        // What engine.io keeps of a Socket.IO request, trimmed.
        .layer(axum::middleware::from_fn(socket::prepare_request));
    let app = routes.layer(layers).with_state(state.clone());
    Ok((app, state))
}

/// Serves until `shutdown` completes, then closes every socket cleanly.
/// With `cfg.tls` set, serves HTTPS and WSS (rustls) instead of HTTP.
pub async fn serve(
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    let listen = cfg.listen;
    let tls = cfg.tls.clone();
    let (app, state) = build(cfg).await?;
    let io = state.io().cloned();
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    let Some(tls) = tls else {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| StartupError::Config(format!("cannot listen on {listen}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| StartupError::Runtime(e.to_string()))?;
        announce("http", local);
        // Log lines are small writes that must leave at once: without
        // TCP_NODELAY, Nagle's algorithm holds them back until the client's
        // delayed ACK (tens of milliseconds).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        return axum::serve(listener, make)
            .with_graceful_shutdown(async move {
                shutdown.await;
                if let Some(io) = io {
                    io.close().await;
                }
            })
            .await
            .map_err(|e| StartupError::Runtime(e.to_string()));
    };
    // One process-wide crypto provider; a second install is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rustls_config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
        .await
        .map_err(|e| {
            StartupError::Config(format!(
                "cannot use TLS certificate {} / key {}: {e}",
                tls.cert.display(),
                tls.key.display()
            ))
        })?;
    // Bind here so a busy port is a clear configuration error.
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| StartupError::Config(format!("cannot listen on {listen}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| StartupError::Runtime(e.to_string()))?;
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        if let Some(io) = io {
            io.close().await;
        }
        h.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    announce("https", local);
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls_config).acceptor(
        axum_server::accept::TcpConfigAcceptor::new(
            axum_server::accept::TcpSocketConfig::new().nodelay(true),
        ),
    );
    axum_server::from_tcp(listener)
        .map_err(|e| StartupError::Runtime(e.to_string()))?
        .acceptor(acceptor)
        .handle(handle)
        .serve(make)
        .await
        .map_err(|e| StartupError::Runtime(e.to_string()))
}

fn announce(scheme: &str, local: SocketAddr) {
    tracing::info!(%local, scheme, "labtail listening");
    // The line tests and scripts wait for; keep its shape.
    println!("labtail listening on {scheme}://{local}");
}

async fn delete_expired_sessions(store: sessions::Store) {
    use tower_sessions::ExpiredDeletion;
    if let Err(e) = store
        .continuously_delete_expired(tokio::time::Duration::from_secs(60))
        .await
    {
        tracing::warn!(error = %e, "expired-session cleanup stopped");
    }
}
