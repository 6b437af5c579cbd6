//! The client contract in types: every event and answer a client sends or
//! gets, over Socket.IO and HTTP, in one place. `docs/protocol.md`
//! describes it; `web/src/lib/wire.ts` is generated from these types (see
//! `typescript.rs`: a test fails when the file is not current), so the web
//! app and the server cannot drift apart.
//!
//! - `request.rs`: the client events, parsed once (`ClientEvent`);
//! - `event.rs`: acknowledgements and server events (`container-log`, …);
//! - `container.rs`: a container as clients see it, and `ContainerState`,
//!   the one vocabulary for states;
//! - `error.rs`: `Code` and `WireError`, the same for acks and HTTP;
//! - `history.rs`: lab history over HTTP (pages, search);
//! - `attention.rs`: attention entries, checkpoints, hands, line levels;
//! - `http.rs`: the HTTP API's other answers.

mod attention;
mod container;
mod error;
mod event;
mod history;
mod http;
mod request;
#[cfg(test)]
mod typescript;

pub use attention::{
    AttentionEntry, AttentionSignal, Checkpoint, EntryState, Evidence, HandAck, HandAnswer, Lab,
    LabCheckpoint, LabRule, LineLevel, OkAck, OwnHand, Severity,
};
pub use container::{ContainerState, WireContainer};
pub use error::{Code, ErrorAck, HttpError, WireError};
pub use event::{
    ContainerEnd, ContainerGap, ContainerLog, ContainerLogShape, ContainerRenamed, ContainerStatus,
    ContainerUpdate, Dashboard, DashboardAck, DashboardRow, EndReason, ListAck, StartAck, StopAck,
    StopDashboardAck, True, WireLine, WireStream, names,
};
pub use history::{HistoryEvent, HistoryEventKind, HistoryPage, HistorySearch, SearchHit};
pub use http::{LoginOptions, Me, OidcOption, Readiness, ReadyStatus, UpDown};
pub use request::{
    AnswerHandPayload, AttentionPayload, ClientEvent, EventName, HandRequest, MAX_MESSAGE,
    MAX_NAME_LEN, RaiseHandPayload, StartFrom, StartPayload, StartRequest, StopPayload,
    parse_container_name, parse_list, parse_start, parse_stop,
};
