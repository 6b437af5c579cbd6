//! Everything a client can send in an event payload: bytes → JSON → the
//! decoders of the three client events and of cursors. Must never panic, and
//! whatever is accepted must be within the contract's bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use labtail_server::wire::{self, MAX_NAME_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<labtail_logs::Mark>();
        let _ = labtail_logs::parse_rfc3339_nanos(text);
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(req) = wire::parse_start(&v, 100) {
        assert!(!req.container_name.is_empty() && req.container_name.len() <= MAX_NAME_LEN);
        assert!(req
            .container_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')));
    }
    let _ = wire::parse_stop(&v);
    let _ = wire::parse_list(&v);
});
