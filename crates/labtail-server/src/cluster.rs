//! Several nodes: the Socket.IO adapter that carries what must reach every node.
//!
//! Alone, a node uses socketioxide's local adapter. With `--redis-url`, it
//! uses socketioxide-redis (fred driver), and an operation on a room without
//! `local()` reaches the sockets of every node through Redis pub/sub:
//! - logout ends the session's sockets on every node at once
//!   ([`Io::disconnect_room`]);
//! - the dashboard's "who is watching" is the union of every node's
//!   `watching:<container>:<user>` rooms ([`Io::rooms`]).
//!
//! What a node sends from its own upstreams (log lines, container updates,
//! dashboard snapshots) never goes through Redis: every node reads the same
//! Docker engines itself, so a line relayed through Redis would arrive twice.
//!
//! Redis is not on the streaming path. While it is away, local operations
//! keep working, cross-node ones give up after `redis_timeout` (logged),
//! `/readyz` says `degraded`, and the client reconnects by itself (fred's
//! reconnect policy; [`keep_subscribed`] re-subscribes the adapter's
//! channels once it is back). The shared database's re-check sweep still
//! ends the sockets of sessions ended on another node, a little later.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::types::RespVersion;
use fred::types::config::{Config, ReconnectPolicy};
use socketioxide::SocketIo;
use socketioxide::adapter::{Emitter, LocalAdapter};
use socketioxide_redis::drivers::fred::FredDriver;
use socketioxide_redis::{FredAdapter, RedisAdapterConfig, RedisAdapterCtr};

/// The Socket.IO adapter of a node that shares rooms through Redis.
pub type RedisAdapter = FredAdapter<Emitter>;

/// A Redis failure at start-up (or while setting up the namespace).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RedisError(pub String);

/// The node's Socket.IO server, with whichever adapter it was started with.
#[derive(Clone)]
pub enum Io {
    Local(SocketIo<LocalAdapter>),
    Redis(SocketIo<RedisAdapter>),
}

/// Runs `$body` with `$io` bound to the inner `SocketIo<A>`, whatever `A`:
/// handlers are generic over the adapter, the choice is made once here.
macro_rules! with_io {
    ($io:expr, $v:ident => $body:expr) => {
        match $io {
            $crate::cluster::Io::Local($v) => $body,
            $crate::cluster::Io::Redis($v) => $body,
        }
    };
}
pub(crate) use with_io;

/// Every server-wide operation reaches sockets through `io.of("/")`, never
/// `io.to()`, `io.local()` or `io.sockets()`: those panic once `close()`
/// has removed the namespace (at shutdown, while background tasks and
/// requests may still run), where `of` gives `None`.
impl Io {
    /// Ends every socket in a room (`session:<id>`, `user:<id>`) on this
    /// node at once and, with Redis, on the others (in the background, so a
    /// Redis outage never holds up the caller).
    pub async fn disconnect_room(&self, room: &str, timeout: Duration) {
        // Local first: it needs nothing but this process, and must not wait
        // for Redis (the adapter publishes before it acts locally, and gives
        // up on both when the publish fails).
        let local = with_io!(self, io => match io.of("/") {
            Some(ns) => ns.local().to(room.to_owned()).disconnect().await,
            None => Ok(()),
        });
        if let Err(e) = local {
            tracing::warn!(%room, error = %e, "could not disconnect sockets");
        }
        if let Io::Redis(io) = self
            && let Some(ns) = io.of("/")
        {
            let room = room.to_owned();
            tokio::spawn(async move {
                let why =
                    match tokio::time::timeout(timeout, ns.to(room.clone()).disconnect()).await {
                        Ok(Ok(())) => return,
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => format!("no answer within {timeout:?}"),
                    };
                metrics::counter!(crate::metrics::REDIS_ERRORS).increment(1);
                tracing::warn!(%room, error = %why, "could not reach the other nodes through Redis; the shared-session re-check will end their sockets");
            });
        }
    }

    /// Sends an event to a room on every node (through Redis when there
    /// is one; a Redis outage gives up after `timeout`, logged). For what
    /// happens once (an instructor's answer), never for lines.
    pub async fn emit_everywhere<T: serde::Serialize + ?Sized>(
        &self,
        room: String,
        event: &str,
        data: &T,
        timeout: Duration,
    ) {
        let sent = with_io!(self, io => match io.of("/") {
            Some(ns) => tokio::time::timeout(timeout, ns.to(room).emit(event, data))
                .await
                .map_err(|_| "no answer from Redis".to_owned())
                .and_then(|r| r.map_err(|e| e.to_string())),
            None => Ok(()),
        });
        if let Err(e) = sent {
            metrics::counter!(crate::metrics::REDIS_ERRORS).increment(1);
            tracing::warn!(event, error = %e, "could not send to a room on every node");
        }
    }

    /// Sends an event to rooms of this node only.
    pub async fn emit_local<T: serde::Serialize + ?Sized>(
        &self,
        rooms: Vec<String>,
        event: &str,
        data: &T,
    ) {
        let sent = with_io!(self, io => match io.of("/") {
            Some(ns) => ns.local().to(rooms).emit(event, data).await,
            None => Ok(()),
        });
        if let Err(e) = sent {
            tracing::debug!(event, error = %e, "could not send to a room");
        }
    }

    /// The rooms of every node; this node's only when Redis is known to be
    /// down (`remote` false) or does not answer within `timeout`.
    pub async fn rooms(&self, remote: bool, timeout: Duration) -> Vec<String> {
        let to_strings = |rooms: Vec<std::borrow::Cow<'static, str>>| {
            rooms
                .into_iter()
                .map(|r| r.into_owned())
                .collect::<Vec<_>>()
        };
        let rooms = match self {
            Io::Local(io) => match io.of("/") {
                Some(ns) => ns.rooms().await.map(to_strings).ok(),
                None => None,
            },
            Io::Redis(io) => match io.of("/") {
                None => None,
                Some(ns) if !remote => ns.local().rooms().await.map(to_strings).ok(),
                Some(ns) => match tokio::time::timeout(timeout, ns.clone().rooms()).await {
                    Ok(Ok(rooms)) => Some(to_strings(rooms)),
                    other => {
                        if let Ok(Err(e)) = other {
                            tracing::debug!(error = %e, "cannot list the other nodes' rooms");
                        }
                        metrics::counter!(crate::metrics::REDIS_ERRORS).increment(1);
                        ns.local().rooms().await.map(to_strings).ok()
                    }
                },
            },
        };
        rooms.unwrap_or_default()
    }

    /// Closes every socket of this node (on shutdown).
    pub async fn close(&self) {
        with_io!(self, io => io.close().await)
    }
}

/// A connection to Redis for the Socket.IO adapter.
pub struct Redis {
    pub client: SubscriberClient,
    pub adapter: RedisAdapterCtr<FredDriver>,
}

impl Redis {
    /// Connects; an unreachable Redis at start-up is an error (a node that
    /// starts without it would silently be alone). Later outages are not.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Redis, RedisError> {
        let shown = crate::db::redact(url);
        if !url.starts_with("redis://") {
            return Err(RedisError(format!(
                "Redis URL {shown}: only redis://host:port URLs are supported (no TLS to Redis: keep it on a private network)"
            )));
        }
        let mut config =
            Config::from_url(url).map_err(|e| RedisError(format!("bad Redis URL {shown}: {e}")))?;
        // The adapter's drivers speak RESP3 (Redis 7 or newer); fred does
        // not read it from the URL.
        config.version = RespVersion::RESP3;
        let client = fred::types::Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = timeout;
                c.internal_command_timeout = timeout;
                c.tcp.nodelay = Some(true);
            })
            // A command waits at most this long, queued or sent: a Redis
            // outage delays a cross-node operation, it never hangs it.
            .with_performance_config(|p| p.default_command_timeout = timeout)
            // Retry for ever, 100 ms doubling to 2 s between attempts.
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .build_subscriber_client()
            .map_err(|e| RedisError(format!("Redis {shown}: {e}")))?;
        let config = RedisAdapterConfig::new().with_request_timeout(timeout);
        let adapter = tokio::time::timeout(
            timeout,
            RedisAdapterCtr::new_with_fred_config(client.clone(), config),
        )
        .await
        .map_err(|_| RedisError(format!("Redis {shown} did not answer within {timeout:?}")))?
        .map_err(|e| RedisError(format!("cannot connect to Redis {shown}: {e}")))?;
        Ok(Redis { client, adapter })
    }
}

/// The node's link to Redis once the adapter is set up: the client and
/// whether the adapter's channels are subscribed on the current connection.
#[derive(Clone)]
pub struct RedisLink {
    client: SubscriberClient,
    subscribed: Arc<AtomicBool>,
}

impl RedisLink {
    /// Call once the namespaces have subscribed: from then on the link
    /// re-subscribes the adapter's channels after every reconnection, for
    /// the life of the process. (A fresh Redis knows nobody's subscriptions:
    /// without this the adapter stays deaf after a Redis restart. fred's own
    /// `manage_subscriptions` cannot be used: in fred 10.1 it first sends a
    /// `SUBSCRIBE` with no channel, which Redis refuses, and stops there.)
    pub fn keep_subscribed(client: SubscriberClient) -> RedisLink {
        let link = RedisLink {
            client,
            subscribed: Arc::new(AtomicBool::new(true)),
        };
        let me = link.clone();
        let mut reconnects = me.client.reconnect_rx();
        tokio::spawn(async move {
            loop {
                match reconnects.recv().await {
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
                me.subscribed.store(false, Ordering::SeqCst);
                // Until it works (Redis may go again meanwhile; then the
                // next reconnection starts over).
                while let Err(e) = resubscribe(&me.client).await {
                    tracing::warn!(error = %e, "could not re-subscribe after a Redis reconnection; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                me.subscribed.store(true, Ordering::SeqCst);
                tracing::info!("reconnected to Redis; cross-node events flow again");
            }
        });
        link
    }

    /// Whether cross-node operations work now (for `/readyz`): connected,
    /// and the adapter's channels subscribed on this connection.
    pub fn up(&self) -> bool {
        self.client.is_connected() && self.subscribed.load(Ordering::SeqCst)
    }
}

async fn resubscribe(client: &SubscriberClient) -> Result<(), fred::error::Error> {
    // One channel per command: they may hash to different slots.
    for channel in client.tracked_shard_channels() {
        client.ssubscribe(channel.to_string()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_or_unreachable_redis_is_a_clear_error() {
        let t = Duration::from_secs(2);
        let e = Redis::connect("rediss://:pw@h:6380", t)
            .await
            .err()
            .unwrap();
        assert!(e.0.contains("only redis://"), "{e}");
        assert!(!e.0.contains("pw"), "password shown: {e}");
        let e = Redis::connect("redis://u:pw@127.0.0.1:1", t)
            .await
            .err()
            .unwrap();
        assert!(e.0.contains("127.0.0.1:1"), "{e}");
        assert!(!e.0.contains(":pw@"), "password shown: {e}");
    }
}
