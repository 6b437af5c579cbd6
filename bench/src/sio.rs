//! A lean Socket.IO v4 client over one WebSocket, enough to log in, start a
//! container's logs and measure what arrives. Both servers are read the same
//! way: through the `log` field of `container-log` (the Node design's field,
//! which labtail keeps), split into lines `"<seq> <wall-clock ns> …"`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// POST /api/login with a minimal HTTP/1.1 exchange; returns the cookie.
pub async fn login(addr: &str, user: &str, password: &str) -> Result<String, BoxError> {
    let body = serde_json::json!({"username": user, "password": password}).to_string();
    let mut s = TcpStream::connect(addr).await?;
    let req = format!(
        "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await?;
    let text = String::from_utf8_lossy(&resp);
    if !text.starts_with("HTTP/1.1 200") {
        return Err(format!("login {user} failed: {}", text.lines().next().unwrap_or("")).into());
    }
    let cookies: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or(""))
        })
        .collect();
    Ok(cookies.join("; "))
}

/// What one viewer saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub lines: u64,
    pub dups: u64,
    pub missing: u64,
    pub last_seq: u64,
    pub gap_events: u64,
    pub end_seen: bool,
    pub first_at: Option<i64>,
    pub last_at: Option<i64>,
    /// Latency of each line in microseconds (capped at one hour).
    pub latencies: Option<hdrhistogram::Histogram<u64>>,
    /// (sequence number, cursor) of each line, when asked for (labtail's
    /// `lines` field; the Node designs have no cursors).
    pub cursors: Option<Vec<(u64, String)>>,
    carry: String,
}

impl Tally {
    pub fn new(record_latency: bool) -> Self {
        Tally {
            latencies: record_latency
                .then(|| hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).ok())
                .flatten(),
            ..Tally::default()
        }
    }

    /// Feeds one `log` string (one or more lines, maybe a partial chunk).
    pub fn feed(&mut self, log: &str, now: i64) {
        self.carry.push_str(log);
        let Some(end) = self.carry.rfind('\n') else {
            return;
        };
        let complete: String = self.carry.drain(..=end).collect();
        for line in complete.lines() {
            let mut parts = line.split(' ');
            let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
                continue;
            };
            if a == "END" {
                self.end_seen = true;
                continue;
            }
            let (Ok(seq), Ok(sent)) = (a.parse::<u64>(), b.parse::<i64>()) else {
                continue;
            };
            self.first_at.get_or_insert(now);
            self.last_at = Some(now);
            if seq <= self.last_seq {
                self.dups += 1;
                continue;
            }
            self.missing += seq - self.last_seq - 1;
            self.last_seq = seq;
            self.lines += 1;
            if let Some(h) = &mut self.latencies {
                let us = ((now - sent).max(0) / 1000) as u64;
                let _ = h.record(us.clamp(1, 3_600_000_000));
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct LogEvent<'a> {
    #[serde(borrow)]
    log: std::borrow::Cow<'a, str>,
}

#[derive(serde::Deserialize)]
struct CursorEvent {
    #[serde(default)]
    lines: Vec<CursorLine>,
}

#[derive(serde::Deserialize)]
struct CursorLine {
    cursor: String,
    text: String,
}

/// GET `path` with a minimal HTTP/1.1 exchange; the body.
pub async fn get(addr: &str, path: &str) -> Result<String, BoxError> {
    let mut s = TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await?;
    let text = String::from_utf8_lossy(&resp);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok(body.to_owned())
}

/// The sum of a Prometheus counter over its labels, from labtail's /metrics.
pub async fn counter_sum(addr: &str, name: &str) -> Result<f64, BoxError> {
    let text = get(addr, "/metrics").await?;
    Ok(text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// A connected socket whose reader task feeds a tally.
/// Acks awaited, by id.
type Pending = Arc<Mutex<Vec<(u64, oneshot::Sender<String>)>>>;

type Sink = futures_util::stream::SplitSink<tokio_tungstenite::WebSocketStream<TcpStream>, Message>;

pub struct Viewer {
    tx: Arc<Mutex<Sink>>,
    pending: Pending,
    next_id: u64,
    pub tally: Arc<std::sync::Mutex<Tally>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Viewer {
    pub async fn connect(addr: &str, cookie: &str, record_latency: bool) -> Result<Self, BoxError> {
        Self::connect_with(addr, cookie, Tally::new(record_latency)).await
    }

    /// Connects, feeding `tally` (one that may already expect a sequence).
    pub async fn connect_with(addr: &str, cookie: &str, tally: Tally) -> Result<Self, BoxError> {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let mut req = url.into_client_request()?;
        req.headers_mut()
            .insert("cookie", HeaderValue::from_str(cookie)?);
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (ws, _) = tokio_tungstenite::client_async(req, tcp).await?;
        let (mut tx, mut rx) = ws.split();
        // Engine.IO open packet, then connect to the default namespace.
        // Pings are answered from the first packet on: engineioxide sends
        // its first ping right after the open packet, before CONNECT is
        // answered, and a client that drops it is closed 20 s later
        // (HeartbeatTimeout) — which is what this client did until it
        // answered here too.
        let mut opened = false;
        loop {
            match rx.next().await {
                Some(Ok(Message::Text(t))) if t == "2" => {
                    tx.send(Message::Text("3".into())).await?
                }
                Some(Ok(Message::Text(t))) if !opened && t.starts_with('0') => {
                    opened = true;
                    tx.send(Message::Text("40".into())).await?
                }
                Some(Ok(Message::Text(t))) if opened && t.starts_with("40") => break,
                Some(Ok(Message::Text(t))) if opened && t.starts_with("44") => {
                    return Err(format!("connect refused: {t}").into());
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => return Err("closed before connect".into()),
            }
        }
        let tally = Arc::new(std::sync::Mutex::new(tally));
        let pending: Pending = Arc::default();
        let tx = Arc::new(Mutex::new(tx));
        let reader = {
            let sink = tx.clone();
            let tally = tally.clone();
            let pending = pending.clone();
            tokio::spawn(async move {
                while let Some(Ok(msg)) = rx.next().await {
                    let Message::Text(t) = msg else { continue };
                    let t: &str = t.as_str();
                    if t == "2" {
                        // Engine.IO ping: answer, or the server drops the socket.
                        let _ = sink.lock().await.send(Message::Text("3".into())).await;
                    } else if let Some(body) = t.strip_prefix("42") {
                        let now = wall_ns();
                        if body.starts_with("[\"container-log\"")
                            && let Ok((_, ev)) = serde_json::from_str::<(&str, LogEvent)>(body)
                            && let Ok(mut tl) = tally.lock()
                        {
                            tl.feed(&ev.log, now);
                            if let Some(cursors) = &mut tl.cursors
                                && let Ok((_, ev)) =
                                    serde_json::from_str::<(&str, CursorEvent)>(body)
                            {
                                for l in ev.lines {
                                    let seq = l.text.split(' ').next().and_then(|s| s.parse().ok());
                                    if let Some(seq) = seq {
                                        cursors.push((seq, l.cursor));
                                    }
                                }
                            }
                        } else if body.starts_with("[\"container-log-gap\"")
                            && let Ok(mut tl) = tally.lock()
                        {
                            tl.gap_events += 1;
                        }
                    } else if let Some(body) = t.strip_prefix("43") {
                        let digits: String =
                            body.chars().take_while(|c| c.is_ascii_digit()).collect();
                        if let Ok(id) = digits.parse::<u64>() {
                            let mut p = pending.lock().await;
                            if let Some(i) = p.iter().position(|(pid, _)| *pid == id) {
                                let (_, tx) = p.swap_remove(i);
                                let _ = tx.send(body[digits.len()..].to_owned());
                            }
                        }
                    }
                }
            })
        };
        Ok(Viewer {
            tx,
            pending,
            next_id: 0,
            tally,
            reader,
        })
    }

    /// Emits an event with an ack and waits for the answer (raw JSON array).
    pub async fn ask(
        &mut self,
        event: &str,
        payload: serde_json::Value,
    ) -> Result<String, BoxError> {
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.push((id, tx));
        let packet = format!("42{id}{}", serde_json::json!([event, payload]));
        self.tx
            .lock()
            .await
            .send(Message::Text(packet.into()))
            .await?;
        Ok(tokio::time::timeout(std::time::Duration::from_secs(60), rx).await??)
    }
}

#[cfg(test)]
mod tests {
    //! A scripted server (a fake, on purpose): it sends the open packet and
    //! a ping at once, as engineioxide does, and answers CONNECT only after
    //! the pong. A client that drops a ping received before CONNECT is
    //! answered never connects here; against labtail it was closed 20 s
    //! later. Deterministic, beside the smoke run against the real server.
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn answers_the_ping_sent_before_connect_is_answered() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let ws = tokio_tungstenite::accept_async(tcp).await.expect("ws");
            let (mut tx, mut rx) = ws.split();
            tx.send(Message::Text(r#"0{"sid":"s","pingInterval":25000}"#.into()))
                .await
                .expect("open");
            tx.send(Message::Text("2".into())).await.expect("ping");
            let mut got = Vec::new();
            while let Some(Ok(Message::Text(t))) = rx.next().await {
                got.push(t.as_str().to_owned());
                if got.iter().any(|p| p == "3") && got.iter().any(|p| p == "40") {
                    break;
                }
            }
            tx.send(Message::Text(r#"40{"sid":"x"}"#.into()))
                .await
                .expect("connect");
            // Held open until the client has seen CONNECT.
            let _ = rx.next().await;
            got
        });
        let viewer = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            Viewer::connect(&addr, "c=1", false),
        )
        .await
        .expect("the client connects once it has answered the early ping")
        .expect("connect");
        drop(viewer);
        let got = server.await.expect("server");
        assert!(got.contains(&"3".to_owned()), "pong sent: {got:?}");
    }
}
