//! Attention's notifications, for instructors who are not looking at the
//! page: every new entry at or above `--attention-webhook-min-severity`
//! goes to each `--attention-webhook` URL, as JSON signed with
//! HMAC-SHA256 (`X-Labtail-Signature: sha256=<hex>` over the body, with
//! `--attention-webhook-secret-file`) or in Slack's incoming-webhook shape.
//!
//! A notification carries the instructor-facing summary and a link, never
//! log lines. It is tried `attempts` times with doubling waits; the queue
//! is bounded (a notification that does not fit is dropped and counted),
//! so a dead receiver never holds anything up. Sent from the node that
//! stored the entry: once, however many nodes run.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use labtail_attention::{Attention, Entry};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::{broadcast, mpsc};

use crate::config::{ServerConfig, Webhooks};

/// What a webhook receives (the JSON shape).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: i64,
    pub signal: &'static str,
    pub severity: &'static str,
    pub owner: String,
    pub container_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab: Option<String>,
    pub title: String,
    pub first_at: String,
    pub last_at: String,
    pub count: i64,
    /// The dashboard, at this entry (with `--public-url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl Notification {
    fn of(e: &Entry, public_url: Option<&str>) -> Self {
        Notification {
            id: e.id,
            signal: e.signal.as_str(),
            severity: e.severity.as_str(),
            owner: e.owner.clone(),
            container_name: e.container_name.clone(),
            lab: e.lab.clone(),
            title: e.title.clone(),
            first_at: e.first_at.clone(),
            last_at: e.last_at.clone(),
            count: e.count,
            link: public_url
                .map(|u| format!("{}/dashboard?attention={}", u.trim_end_matches('/'), e.id)),
        }
    }

    /// The body for a receiver: ours, or Slack's `{"text"}`.
    pub fn body(&self, slack: bool) -> String {
        if !slack {
            return serde_json::to_string(self).unwrap_or_default();
        }
        let mut text = format!(
            "[{}] {} ({}): {}",
            self.severity, self.owner, self.container_name, self.title
        );
        if let Some(l) = &self.link {
            text.push_str(&format!(" <{l}|open>"));
        }
        serde_json::json!({ "text": text }).to_string()
    }
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// Starts sending new entries to the webhooks, if any are configured.
pub fn spawn(a: &Arc<Attention>, cfg: &ServerConfig) {
    let hooks = cfg.webhooks.clone();
    if hooks.urls.is_empty() {
        return;
    }
    let (tx, rx) = mpsc::channel(hooks.queue.max(1));
    tokio::spawn(collect(
        a.subscribe_new(),
        Arc::downgrade(a),
        hooks.clone(),
        cfg.public_url.clone(),
        tx,
    ));
    tokio::spawn(send(rx, hooks));
}

async fn collect(
    mut new: broadcast::Receiver<i64>,
    a: std::sync::Weak<Attention>,
    hooks: Webhooks,
    public_url: Option<String>,
    tx: mpsc::Sender<Notification>,
) {
    loop {
        let id = match new.recv().await {
            Ok(id) => id,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                metrics::counter!(crate::metrics::NOTIFICATIONS, "result" => "dropped")
                    .increment(n);
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(a) = a.upgrade() else {
            return;
        };
        let entry = match a.store().entry(id).await {
            Ok(Some(e)) => e.entry,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "notifications: cannot read an entry");
                continue;
            }
        };
        if entry.severity < hooks.min_severity {
            continue;
        }
        if tx
            .try_send(Notification::of(&entry, public_url.as_deref()))
            .is_err()
        {
            metrics::counter!(crate::metrics::NOTIFICATIONS, "result" => "dropped").increment(1);
        }
    }
}

async fn send(mut rx: mpsc::Receiver<Notification>, hooks: Webhooks) {
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(hooks.timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "notifications: cannot make an HTTP client; none will be sent");
            return;
        }
    };
    while let Some(n) = rx.recv().await {
        let body = n.body(hooks.slack);
        for url in &hooks.urls {
            let mut wait = hooks.backoff;
            let mut sent = false;
            for attempt in 1..=hooks.attempts.max(1) {
                let mut req = client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header("X-Labtail-Event", "attention")
                    .body(body.clone());
                if let Some(secret) = &hooks.secret {
                    req = req.header("X-Labtail-Signature", signature(secret, &body));
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        sent = true;
                        break;
                    }
                    Ok(r) => {
                        tracing::debug!(%url, status = %r.status(), attempt, "notification refused")
                    }
                    Err(e) => {
                        tracing::debug!(%url, error = %e, attempt, "notification not delivered")
                    }
                }
                if attempt < hooks.attempts {
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
            }
            let result = if sent { "sent" } else { "failed" };
            metrics::counter!(crate::metrics::NOTIFICATIONS, "result" => result).increment(1);
            if !sent {
                tracing::warn!(%url, id = n.id, "a notification could not be delivered");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
