//! `web/src/lib/wire.ts`, generated from the wire types with ts-rs.
//!
//! The test below regenerates the file's text and fails when the committed
//! file differs: a field added, renamed or removed on the server without the
//! web app's types following fails CI. To update the file:
//! `LABTAIL_WRITE_WIRE_TS=1 cargo test -p labtail-server wire::typescript`.

use ts_rs::{Config, TS};

use super::*;
use crate::db::{AuditRow, Role};

const HEADER: &str = "\
// The labtail wire contract as TypeScript types: GENERATED from the
// server's types (crates/labtail-server/src/wire/) by a test; do not edit.
// Regenerate: LABTAIL_WRITE_WIRE_TS=1 cargo test -p labtail-server wire::typescript
// docs/protocol.md describes what each one means.
";

fn one<T: TS + ?Sized + 'static>(cfg: &Config, out: &mut String) {
    out.push('\n');
    if let Some(docs) = T::docs() {
        out.push_str(&docs);
    }
    out.push_str("export ");
    out.push_str(&T::decl(cfg));
    out.push('\n');
}

fn generate() -> String {
    // JSON numbers, not bigint: every integer labtail sends fits in 2^53.
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(HEADER);
    macro_rules! types {
        ($($t:ty),* $(,)?) => { $( one::<$t>(&cfg, &mut out); )* };
    }
    types!(
        // Errors, the same for acks and HTTP.
        Code,
        WireError,
        ErrorAck<'static>,
        super::error::HttpErrorBody<'static>,
        // Containers and states.
        ContainerState,
        WireContainer,
        // Client → server.
        StartPayload,
        StopPayload,
        // Acknowledgements.
        StartAck,
        StopAck,
        ListAck,
        DashboardAck,
        StopDashboardAck,
        // Server → client events.
        WireStream,
        WireLine,
        ContainerLogShape,
        ContainerGap,
        ContainerStatus,
        EndReason,
        ContainerEnd,
        ContainerRenamed,
        ContainerUpdate,
        DashboardRow,
        Dashboard,
        // HTTP.
        Role,
        Me,
        LoginOptions,
        OidcOption,
        ReadyStatus,
        UpDown,
        Readiness,
        AuditRow,
        // Lab history.
        HistoryPage,
        HistoryEvent,
        HistoryEventKind,
        HistorySearch,
        SearchHit,
        // Attention.
        AttentionSignal,
        Severity,
        EntryState,
        Evidence,
        AttentionEntry,
        Checkpoint,
        OkAck,
        HandAck,
        HandAnswer,
        OwnHand,
        LineLevel,
        AttentionPayload,
        RaiseHandPayload,
        AnswerHandPayload,
        Lab,
        LabRule,
        LabCheckpoint,
    );
    out
}

#[test]
fn web_types_are_generated_from_the_wire_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/src/lib/wire.ts");
    let want = generate();
    if std::env::var_os("LABTAIL_WRITE_WIRE_TS").is_some() {
        std::fs::write(&path, &want).expect("write web/src/lib/wire.ts");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "web/src/lib/wire.ts is not what the server's wire types say; regenerate it with \
         LABTAIL_WRITE_WIRE_TS=1 cargo test -p labtail-server wire::typescript"
    );
}
