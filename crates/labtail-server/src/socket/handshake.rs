//! The handshake: what engine.io keeps of the HTTP request, the session
//! check, and the socket's set-up, all before socketioxide sends CONNECT.

use std::sync::Arc;

use socketioxide::adapter::Adapter;
use socketioxide::extract::{MaybeHttpExtension, SocketRef, State};

use super::ctx::{Identity, SocketCtx};
use crate::auth::AuthSession;
use crate::db::Role;
use crate::slots::Slot;
use crate::state::AppState;
use crate::wire::Code;

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
            .get(crate::sessions::LOGIN_AT)
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

/// A refused handshake: the `connect_error` message is the code.
#[derive(Debug)]
pub(super) struct Refused(Code);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// The connect middleware: refuses a socket without a logged-in session or
/// over the user's socket limit, else sets it up (see [`set_up`]).
pub(super) async fn authenticate<A: Adapter>(
    s: SocketRef<A>,
    State(app): State<AppState>,
    MaybeHttpExtension(auth): MaybeHttpExtension<HandshakeAuth>,
) -> Result<(), Refused> {
    let refuse = |code: Code| {
        metrics::counter!(crate::metrics::SOCKETS_REFUSED, "reason" => code.as_str()).increment(1);
        Err(Refused(code))
    };
    let Some(user) = auth else {
        return refuse(Code::Unauthenticated);
    };
    let Some(slot) = app.take_socket_slot(user.user_id) else {
        metrics::counter!(crate::metrics::LIMIT_HITS, "limit" => "sockets_per_user").increment(1);
        return refuse(Code::TooManySockets);
    };
    let parts = s.req_parts();
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let ip = crate::client_ip::client_ip(&parts.headers, peer, app.cfg.trust_forwarded_for);
    // A staff socket's scope (what its dashboard and updates show) is read
    // now, before CONNECT: its first update must already be narrowed.
    let scope = if user.role.is_staff() {
        match crate::access::access_of(&app.db, user.role, &user.username).await {
            Ok(a) => Some(a.scope),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read an instructor's courses");
                return refuse(Code::Unavailable);
            }
        }
    } else {
        None
    };
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
        slot,
        scope,
    );
    Ok(())
}

/// The connect handler proper has nothing left to do: see [`set_up`].
pub(super) async fn connected<A: Adapter>(_: SocketRef<A>) {}

/// Joins the socket's rooms and registers its event handlers. Runs in the
/// connect middleware, which socketioxide awaits *before* it sends the
/// CONNECT packet; its connect handler, by contrast, is spawned *after*
/// CONNECT went out. socket.io-client sends what a page emitted before or
/// at connect the instant CONNECT arrives, so handlers registered in the
/// connect handler could miss it: socketioxide drops an event that finds no
/// handler. Registered here, every event finds its handler.
/// (docs/socketio.md has the details and the upstream report.)
fn set_up<A: Adapter>(
    s: &SocketRef<A>,
    app: &AppState,
    ident: Identity,
    slot: Slot,
    scope: Option<labtail_logs::Scope>,
) {
    s.join([
        crate::rooms::user(ident.user_id),
        crate::rooms::session(&ident.session_id),
        crate::rooms::owner(&ident.username),
    ]);
    // The context is the socket's one extension (the session re-check reads
    // who is on it from there): a second copy of the identity would be
    // memory every idle socket pays.
    let ctx = Arc::new(SocketCtx::new(ident, slot));
    if let Some(scope) = scope {
        crate::staff::place(s, scope, false);
    }
    s.extensions.insert(ctx.clone());
    let inbox = super::worker::register_handlers(s, &ctx, app);
    let app = app.clone();
    s.on_disconnect(move |reason: socketioxide::socket::DisconnectReason| {
        tracing::debug!(?reason, "socket disconnected");
        inbox.close();
        ctx.close();
        if ctx.leave_dashboard() {
            app.dashboard.remove_viewer();
        }
        async {}
    });
}
