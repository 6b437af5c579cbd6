//! The web app, served by the same binary: the built `web/dist` when it is
//! there, a small built-in page otherwise.

use std::path::Path;

use axum::Router;

use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};

use crate::state::AppState;

pub fn routes(web_dir: Option<&Path>) -> Router<AppState> {
    let api_404 = Router::new().route(
        "/api/{*rest}",
        axum::routing::any(|| async {
            crate::wire::WireError::new(crate::wire::Code::NotFound, "no such API endpoint").http()
        }),
    );
    match web_dir {
        Some(dir) if dir.join("index.html").is_file() => {
            // Client-side routes (/containers/x, /dashboard) get index.html.
            let spa = ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")));
            api_404.fallback_service(spa)
        }
        _ => api_404.route("/", get(placeholder)),
    }
}

async fn placeholder() -> Response {
    Html(concat!(
        "<!doctype html><html lang=en><meta charset=utf-8><title>labtail</title>",
        "<body style='font-family:sans-serif;max-width:40em;margin:3em auto'>",
        "<h1>labtail</h1><p>The server is running. The web app is not built in this ",
        "directory: run <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code> ",
        "or pass <code>--web-dir</code>.</p>",
        "<p>API: <code>POST /api/login</code>, <code>GET /api/me</code>, ",
        "<code>GET /api/containers</code>, <code>/healthz</code>, <code>/readyz</code>, ",
        "<code>/metrics</code>; Socket.IO at <code>/socket.io/</code>.</p></body></html>"
    ))
    .into_response()
}
