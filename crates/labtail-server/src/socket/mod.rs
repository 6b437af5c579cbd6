//! Socket.IO: the client events, one socket at a time.
//!
//! The path of a client event, one file each:
//! - `handshake.rs`: the connect middleware checks the session and, before
//!   socketioxide sends CONNECT, joins the socket's rooms and registers its
//!   handlers (docs/socketio.md says why here and not in the connect
//!   handler);
//! - `worker.rs`: a handler parses its event into a `ClientEvent` and queues
//!   it, synchronously and in arrival order; one worker per socket runs
//!   them in that order and answers through a `Reply` that waits for room
//!   rather than losing an answer;
//! - `command.rs`: what each event does (start, stop, list, the dashboard);
//!   `attention.rs`: the attention events (acknowledge, dismiss, raise and
//!   answer a hand);
//! - `forward.rs`: a started watch: the engine's deliveries become
//!   `container-log`, `container-log-gap`, `container-status` and
//!   `container-log-end`; `replay.rs`: what a watch replays from lab
//!   history first (or alone, for a removed container); `wait.rs`: a watch
//!   waiting for its container;
//! - `emit.rs`: sending to one socket (waiting while its buffer is full)
//!   and the events every kind of watch sends;
//! - `ctx.rs`: what a socket holds (who, its watches); `scope.rs`: a
//!   staff socket's scope read again, and the watches it lost ended;
//! - `errors.rs`: the engine's failures as client answers.
//!
//! Every handler is generic over the Socket.IO adapter (`A: Adapter`):
//! local alone, Redis with several nodes (`cluster.rs` chooses once).

mod attention;
mod command;
mod ctx;
mod emit;
mod errors;
mod forward;
mod handshake;
mod replay;
mod scope;
mod wait;
mod worker;

pub use ctx::{Identity, SocketCtx};
pub use handshake::{HandshakeAuth, prepare_request};
pub use scope::rescope;

/// Registers the default namespace. Handshakes without a logged-in session
/// are refused with `connect_error` `{message: "unauthenticated"}`.
pub async fn register(io: &crate::cluster::Io) -> Result<(), crate::cluster::RedisError> {
    use socketioxide::handler::ConnectHandler;
    match io {
        crate::cluster::Io::Local(io) => {
            io.ns("/", handshake::connected.with(handshake::authenticate));
            Ok(())
        }
        // With Redis, the namespace's adapter subscribes to its channels
        // here; a failure is a start-up error.
        crate::cluster::Io::Redis(io) => io
            .ns("/", handshake::connected.with(handshake::authenticate))
            .await
            .map_err(|e| crate::cluster::RedisError(e.to_string())),
    }
}
