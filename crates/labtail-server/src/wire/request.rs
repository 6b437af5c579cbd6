//! What clients send: the client events, parsed once.
//!
//! Everything is parsed here, by hand from a JSON value, so a bad payload
//! becomes an `invalid_payload` answer with a message that says which
//! field is wrong, and never a panic or a silently ignored event. The
//! `…Payload` types describe the same shapes for the TypeScript client.

use labtail_logs::Mark;
use serde::Serialize;
use serde_json::Value;

use super::error::WireError;

/// The client events, by their Socket.IO names (kept from the Node design
/// where it had them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    StartContainerLogs,
    StopContainerLogs,
    ListContainers,
    WatchDashboard,
    StopDashboard,
    AckAttention,
    DismissAttention,
    RaiseHand,
    AnswerHand,
}

impl EventName {
    pub const ALL: [EventName; 9] = [
        EventName::StartContainerLogs,
        EventName::StopContainerLogs,
        EventName::ListContainers,
        EventName::WatchDashboard,
        EventName::StopDashboard,
        EventName::AckAttention,
        EventName::DismissAttention,
        EventName::RaiseHand,
        EventName::AnswerHand,
    ];

    /// The event called `name`, if labtail has one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventName::StartContainerLogs => "start-container-logs",
            EventName::StopContainerLogs => "stop-container-logs",
            EventName::ListContainers => "list-containers",
            EventName::WatchDashboard => "watch-dashboard",
            EventName::StopDashboard => "stop-dashboard",
            EventName::AckAttention => "ack-attention",
            EventName::DismissAttention => "dismiss-attention",
            EventName::RaiseHand => "raise-hand",
            EventName::AnswerHand => "answer-hand",
        }
    }
}

/// A client event, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    Start(StartRequest),
    Stop {
        container_name: String,
    },
    List,
    WatchDashboard,
    StopDashboard,
    /// An instructor acknowledges (`dismiss: false`) or dismisses an
    /// attention entry.
    Attention {
        id: i64,
        dismiss: bool,
    },
    RaiseHand(HandRequest),
    AnswerHand {
        id: i64,
        message: String,
    },
}

impl ClientEvent {
    /// Parses the payload of event `name`; `default_tail` is what a start
    /// without `tail`, `after` or `since` gets.
    pub fn parse(name: EventName, v: &Value, default_tail: u64) -> Result<Self, WireError> {
        Ok(match name {
            EventName::StartContainerLogs => ClientEvent::Start(parse_start(v, default_tail)?),
            EventName::StopContainerLogs => ClientEvent::Stop {
                container_name: parse_stop(v)?,
            },
            EventName::ListContainers => {
                parse_list(v)?;
                ClientEvent::List
            }
            EventName::WatchDashboard => {
                parse_list(v)?;
                ClientEvent::WatchDashboard
            }
            EventName::StopDashboard => {
                parse_list(v)?;
                ClientEvent::StopDashboard
            }
            EventName::AckAttention | EventName::DismissAttention => ClientEvent::Attention {
                id: parse_attention_id(v)?,
                dismiss: name == EventName::DismissAttention,
            },
            EventName::RaiseHand => ClientEvent::RaiseHand(parse_raise_hand(v)?),
            EventName::AnswerHand => {
                let (id, message) = parse_answer_hand(v)?;
                ClientEvent::AnswerHand { id, message }
            }
        })
    }
}

/// `start-container-logs`: at most one of `tail`, `after`, `since`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StartPayload {
    pub container_name: String,
    /// Lines of backlog (default `--default-tail`, at most `--backlog-lines`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub tail: Option<u64>,
    /// A cursor: exactly the lines after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub after: Option<String>,
    /// An RFC 3339 time: from the first line stamped then or later.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub since: Option<String>,
    /// Seconds to wait for a container that does not exist yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub wait: Option<u64>,
}

/// `stop-container-logs`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StopPayload {
    pub container_name: String,
}

/// `ack-attention` and `dismiss-attention`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AttentionPayload {
    pub id: i64,
}

/// `raise-hand`: a student asks for help with a line of their container.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RaiseHandPayload {
    pub container_name: String,
    /// The line (a cursor of it).
    pub cursor: String,
    /// What they need, in a sentence (at most `MAX_MESSAGE` characters).
    pub message: String,
}

/// `answer-hand`: an instructor's answer, shown in the student's viewer.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AnswerHandPayload {
    pub id: i64,
    pub message: String,
}

/// Longest hand or answer message, in characters.
pub const MAX_MESSAGE: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandRequest {
    pub container_name: String,
    pub cursor: labtail_logs::Cursor,
    pub message: String,
}

fn parse_id(obj: &mut Fields<'_>) -> Result<i64, WireError> {
    obj.get("id")
        .and_then(Value::as_i64)
        .filter(|id| *id > 0)
        .ok_or_else(|| WireError::invalid("id must be an entry's id (a positive whole number)"))
}

fn parse_message(obj: &mut Fields<'_>) -> Result<String, WireError> {
    let m = obj
        .get("message")
        .and_then(Value::as_str)
        .ok_or_else(|| WireError::invalid("message must be a string"))?;
    let m = m.trim();
    if m.is_empty() {
        return Err(WireError::invalid("message must say something"));
    }
    if m.chars().count() > MAX_MESSAGE {
        return Err(WireError::invalid(format!(
            "message must be at most {MAX_MESSAGE} characters"
        )));
    }
    Ok(m.to_owned())
}

/// `ack-attention {id}` / `dismiss-attention {id}`.
pub fn parse_attention_id(v: &Value) -> Result<i64, WireError> {
    parse_id(&mut as_object(v)?)
}

/// `raise-hand {containerName, cursor, message}`.
pub fn parse_raise_hand(v: &Value) -> Result<HandRequest, WireError> {
    parse_raise_hand_fields(&mut as_object(v)?)
}

fn parse_raise_hand_fields(obj: &mut Fields<'_>) -> Result<HandRequest, WireError> {
    let container_name = parse_container_name(obj.get("containerName"))?;
    let cursor = obj
        .get("cursor")
        .and_then(Value::as_str)
        .and_then(|c| c.parse::<labtail_logs::Cursor>().ok())
        .ok_or_else(|| WireError::invalid("cursor must be a line's cursor"))?;
    let message = parse_message(obj)?;
    Ok(HandRequest {
        container_name,
        cursor,
        message,
    })
}

/// `answer-hand {id, message}`.
pub fn parse_answer_hand(v: &Value) -> Result<(i64, String), WireError> {
    parse_answer_hand_fields(&mut as_object(v)?)
}

fn parse_answer_hand_fields(obj: &mut Fields<'_>) -> Result<(i64, String), WireError> {
    let id = parse_id(obj)?;
    let message = parse_message(obj)?;
    Ok((id, message))
}

/// Longest container name or ID a client may send (Docker names are shorter).
pub const MAX_NAME_LEN: usize = 128;

/// Checks a container name or ID as Docker allows them: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`,
/// optionally with Docker's leading `/`. This rejects path and URL tricks
/// (`../`, `%2F`, `?`) before any lookup.
pub fn parse_container_name(v: Option<&Value>) -> Result<String, WireError> {
    let Some(v) = v else {
        return Err(WireError::invalid("containerName is required"));
    };
    let Some(s) = v.as_str() else {
        return Err(WireError::invalid("containerName must be a string"));
    };
    let name = s.strip_prefix('/').unwrap_or(s);
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(WireError::invalid(format!(
            "containerName must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    // `name`, or `host/name` when labtail reads several Docker hosts.
    let docker_like = |part: &str| {
        let mut bytes = part.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    let ok = match name.split_once('/') {
        Some((host, rest)) => docker_like(host) && docker_like(rest),
        None => docker_like(name),
    };
    if !ok {
        return Err(WireError::invalid(
            "containerName may hold only letters, digits, '_', '.' and '-' (and one '/' after a host name)",
        ));
    }
    Ok(name.to_owned())
}

fn as_object(v: &Value) -> Result<Fields<'_>, WireError> {
    v.as_object()
        .map(|obj| Fields {
            obj,
            read: Vec::new(),
        })
        .ok_or_else(|| WireError::invalid("the payload must be a JSON object"))
}

/// A payload's fields as the parser reads them. It notes the keys it was
/// asked for, so a test can hold the parser to the payload's type: every
/// field the type has is read, and nothing else (the type is what the
/// TypeScript client is generated from).
struct Fields<'a> {
    obj: &'a serde_json::Map<String, Value>,
    read: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.read.push(key);
        self.obj.get(key)
    }
}

/// Where a `start-container-logs` should begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFrom {
    Tail(u64),
    After(Mark),
    /// Nanoseconds since the epoch.
    Since(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    pub container_name: String,
    pub from: StartFrom,
    /// Seconds to wait for the container to appear, if it does not exist.
    pub wait_secs: u64,
}

/// `start-container-logs {containerName, tail?, after?, since?, wait?}`.
pub fn parse_start(v: &Value, default_tail: u64) -> Result<StartRequest, WireError> {
    parse_start_fields(&mut as_object(v)?, default_tail)
}

fn parse_start_fields(obj: &mut Fields<'_>, default_tail: u64) -> Result<StartRequest, WireError> {
    let container_name = parse_container_name(obj.get("containerName"))?;
    let since = match obj.get("since") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 64 => {
            Some(labtail_logs::parse_rfc3339_nanos(s).ok_or_else(|| {
                WireError::invalid("since must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z")
            })?)
        }
        Some(_) => {
            return Err(WireError::invalid(
                "since must be an RFC 3339 time string, e.g. 2026-11-22T10:00:00Z",
            ));
        }
    };
    let wait_secs = match obj.get("wait") {
        None | Some(Value::Null) => 0,
        Some(t) => t.as_u64().ok_or_else(|| {
            WireError::invalid("wait must be a whole number of seconds, 0 or more")
        })?,
    };
    let tail = match obj.get("tail") {
        None | Some(Value::Null) => None,
        Some(t) => Some(t.as_u64().ok_or_else(|| {
            WireError::invalid("tail must be a whole number of lines, 0 or more")
        })?),
    };
    let after = match obj.get("after") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.parse::<Mark>().map_err(|e| {
            WireError::invalid(format!("after is not a cursor labtail gave out: {e}"))
        })?),
        Some(_) => return Err(WireError::invalid("after must be a cursor string")),
    };
    let from = match (tail, after, since) {
        (Some(n), None, None) => StartFrom::Tail(n),
        (None, Some(c), None) => StartFrom::After(c),
        (None, None, Some(t)) => StartFrom::Since(t),
        (None, None, None) => StartFrom::Tail(default_tail),
        _ => {
            return Err(WireError::invalid(
                "give at most one of tail, after and since",
            ));
        }
    };
    Ok(StartRequest {
        container_name,
        from,
        wait_secs,
    })
}

/// `stop-container-logs {containerName}`.
pub fn parse_stop(v: &Value) -> Result<String, WireError> {
    parse_stop_fields(&mut as_object(v)?)
}

fn parse_stop_fields(obj: &mut Fields<'_>) -> Result<String, WireError> {
    parse_container_name(obj.get("containerName"))
}

/// The keys a parser reads, for the tests below.
#[cfg(test)]
fn keys_read(v: &Value, parse: impl FnOnce(&mut Fields<'_>)) -> Vec<&'static str> {
    let mut f = as_object(v).expect("an object");
    parse(&mut f);
    let mut keys = f.read;
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// `list-containers {}`: the payload is optional, but if present it must be an object.
pub fn parse_list(v: &Value) -> Result<(), WireError> {
    match v {
        Value::Null => Ok(()),
        other => as_object(other).map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Code;
    use serde_json::json;

    #[test]
    fn container_names_refuse_tricks() {
        for bad in [
            json!("../etc"),
            json!("a/b/c"),
            json!("a/"),
            json!("a//b"),
            json!("a/.b"),
            json!("a%2Fb"),
            json!("a?x=1"),
            json!(""),
            json!("x".repeat(129)),
            json!(" a"),
            json!("a\u{0}"),
            json!("ä"),
            json!(12),
            json!(null),
            json!(["a"]),
        ] {
            assert!(parse_container_name(Some(&bad)).is_err(), "{bad}");
        }
        assert_eq!(
            parse_container_name(Some(&json!("/lab-1"))).unwrap(),
            "lab-1"
        );
        assert_eq!(
            parse_container_name(Some(&json!("Lab_1.x-y"))).unwrap(),
            "Lab_1.x-y"
        );
    }

    /// The payload types are what the web app's types are generated from;
    /// the parsers read exactly their fields (by the names serde gives
    /// them), and a wrong value in any of them is refused, naming it.
    #[test]
    fn parsers_read_exactly_the_payload_types_fields() {
        let full = serde_json::to_value(StartPayload {
            container_name: "c".into(),
            tail: Some(1),
            after: Some("1732312345123456789-o000000".into()),
            since: Some("2026-11-22T10:00:00Z".into()),
            wait: Some(1),
        })
        .unwrap();
        let mut fields: Vec<&str> = full
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        let read = keys_read(&full, |f| {
            let _ = parse_start_fields(f, 100);
        });
        assert_eq!(read, fields);
        for key in &fields {
            let mut bad = full.clone();
            bad[*key] = json!({"not": "this"});
            let err = parse_start(&bad, 100).unwrap_err();
            assert!(err.message.contains(key), "{key}: {}", err.message);
        }
        let stop = serde_json::to_value(StopPayload {
            container_name: "c".into(),
        })
        .unwrap();
        let read = keys_read(&stop, |f| {
            let _ = parse_stop_fields(f);
        });
        let mut fields: Vec<&str> = stop
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(read, fields);
        // The attention events, alike.
        let hand = serde_json::to_value(RaiseHandPayload {
            container_name: "c".into(),
            cursor: "1732312345123456789-o000000".into(),
            message: "help".into(),
        })
        .unwrap();
        let answer = serde_json::to_value(AnswerHandPayload {
            id: 3,
            message: "on my way".into(),
        })
        .unwrap();
        let ack = serde_json::to_value(AttentionPayload { id: 3 }).unwrap();
        type Parse = fn(&mut Fields<'_>) -> bool;
        let cases: [(Value, Parse); 3] = [
            (hand, |f| parse_raise_hand_fields(f).is_ok()),
            (answer, |f| parse_answer_hand_fields(f).is_ok()),
            (ack, |f| parse_id(f).is_ok()),
        ];
        for (v, parse) in cases {
            let mut ok = false;
            let read = keys_read(&v, |f| ok = parse(f));
            assert!(ok, "{v}");
            let mut fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            fields.sort_unstable();
            assert_eq!(read, fields);
            for key in &fields {
                let mut bad = v.clone();
                bad[*key] = json!({"not": "this"});
                let mut f = as_object(&bad).unwrap();
                let err = match parse(&mut f) {
                    true => None,
                    false => Some(()),
                };
                assert!(err.is_some(), "{key} accepted an object");
            }
        }
        assert!(
            parse_raise_hand(&json!({"containerName": "c", "cursor": "x", "message": "m"}))
                .unwrap_err()
                .message
                .contains("cursor")
        );
        let long = "x".repeat(MAX_MESSAGE + 1);
        assert!(parse_answer_hand(&json!({"id": 1, "message": long})).is_err());
        // A blank message says nothing: refused for both.
        assert!(parse_answer_hand(&json!({"id": 1, "message": "  "})).is_err());
        let cursor = "1795388680123456789-o000000";
        assert!(
            parse_raise_hand(&json!({"containerName": "c", "cursor": cursor, "message": " \n "}))
                .is_err()
        );
        assert!(parse_attention_id(&json!({"id": -1})).is_err());
    }

    #[test]
    fn start_payloads() {
        let ok = parse_start(&json!({"containerName": "c"}), 100).unwrap();
        assert_eq!(ok.from, StartFrom::Tail(100));
        let ok = parse_start(&json!({"containerName": "c", "tail": 5, "extra": 1}), 100).unwrap();
        assert_eq!(ok.from, StartFrom::Tail(5));
        let c = "1732312345123456789-000001";
        let ok = parse_start(&json!({"containerName": "c", "after": c}), 100).unwrap();
        assert_eq!(ok.from, StartFrom::After(c.parse().unwrap()));
        let ok = parse_start(
            &json!({"containerName": "c", "since": "1970-01-01T00:00:01Z", "wait": 5}),
            100,
        )
        .unwrap();
        assert_eq!(ok.from, StartFrom::Since(1_000_000_000));
        assert_eq!(ok.wait_secs, 5);
        for bad in [
            json!("c"),
            json!(null),
            json!([]),
            json!({}),
            json!({"containerName": "c", "tail": -1}),
            json!({"containerName": "c", "tail": 1.5}),
            json!({"containerName": "c", "tail": "10"}),
            json!({"containerName": "c", "tail": 1e300}),
            json!({"containerName": "c", "after": 5}),
            json!({"containerName": "c", "after": "x-y"}),
            json!({"containerName": "c", "after": c, "tail": 1}),
            json!({"containerName": "c", "since": "yesterday"}),
            json!({"containerName": "c", "since": 5}),
            json!({"containerName": "c", "since": "2026-01-01T00:00:00Z", "tail": 5}),
            json!({"containerName": "c", "wait": -1}),
            json!({"containerName": "c", "wait": "10"}),
        ] {
            let e = parse_start(&bad, 100).unwrap_err();
            assert_eq!(e.code, Code::InvalidPayload, "{bad}");
        }
    }

    #[test]
    fn every_event_parses_or_says_why() {
        for name in EventName::ALL {
            assert!(
                ClientEvent::parse(name, &json!("nope"), 100).is_err(),
                "{name:?}"
            );
        }
        assert_eq!(
            ClientEvent::parse(EventName::ListContainers, &Value::Null, 100),
            Ok(ClientEvent::List)
        );
    }
}

/// Property tests: whatever JSON a client sends, decoding never panics, and
/// whatever it accepts is within the contract's bounds.
#[cfg(test)]
mod props {
    use super::*;
    use labtail_logs::{Cursor, Stream};
    use proptest::prelude::*;
    use serde_json::json;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,40}".prop_map(Value::String),
            "[a-zA-Z0-9_./%?-]{0,200}".prop_map(Value::String),
            "[0-9]{1,25}-[0-9]{1,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::hash_map(
                    prop_oneof![
                        Just("containerName".to_string()),
                        Just("tail".to_string()),
                        Just("after".to_string()),
                        Just("since".to_string()),
                        Just("wait".to_string()),
                        ".{0,12}".prop_map(String::from),
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn name_is_docker_like(n: &str) -> bool {
        let part = |p: &str| {
            !p.is_empty()
                && p.as_bytes()[0].is_ascii_alphanumeric()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        };
        n.len() <= MAX_NAME_LEN
            && match n.split_once('/') {
                Some((h, rest)) => part(h) && part(rest),
                None => part(n),
            }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn decoding_never_panics_and_accepts_only_valid_requests(v in any_json()) {
            if let Ok(req) = parse_start(&v, 100) {
                prop_assert!(name_is_docker_like(&req.container_name));
                prop_assert!(v.is_object());
            }
            if let Ok(name) = parse_stop(&v) {
                prop_assert!(name_is_docker_like(&name));
            }
            let _ = parse_list(&v);
        }

        #[test]
        fn container_names_never_carry_path_or_url_syntax(s in ".{0,300}") {
            if let Ok(n) = parse_container_name(Some(&Value::String(s.clone()))) {
                prop_assert!(name_is_docker_like(&n));
                // At most one '/', between two Docker-like parts: never a
                // path ("..", a leading '/', "a/b/c").
                prop_assert!(n.matches('/').count() <= 1);
                prop_assert!(!n.starts_with(['/', '.']) && !n.contains("/."));
                for bad in ['%', '?', '#', ' ', '\0', '\\', ':'] {
                    prop_assert!(!n.contains(bad));
                }
            }
        }

        #[test]
        fn cursors_round_trip_and_order_as_text(a in 0..i64::MAX, ao in 0u32..1_000_000, sa in 0usize..3,
                                                 b in 0..i64::MAX, bo in 0u32..1_000_000, sb in 0usize..3) {
            let (ca, cb) = (Cursor::new(a, Stream::ALL[sa], ao), Cursor::new(b, Stream::ALL[sb], bo));
            prop_assert_eq!(ca.to_string().parse::<Cursor>(), Ok(ca));
            prop_assert_eq!(ca.cmp(&cb), ca.to_string().cmp(&cb.to_string()));
        }

        #[test]
        fn any_text_is_safe_to_parse_as_a_cursor(s in ".{0,60}") {
            let _ = s.parse::<Cursor>();
        }
    }
}
