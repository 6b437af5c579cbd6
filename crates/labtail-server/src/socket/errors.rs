//! Engine failures as client answers.

use labtail_logs::{DockerError, StartError, SubscribeError};

use crate::wire::{Code, WireError};

/// A failed lookup: a name several Docker hosts have is the client's to
/// qualify (`host/name`); anything else is the engine being away.
pub(super) fn lookup_error(e: DockerError) -> WireError {
    match e {
        DockerError::Ambiguous(names) => WireError::invalid(format!(
            "several Docker hosts have a container of that name ({}); use host/name",
            names.join(", ")
        )),
        other => unavailable(other),
    }
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> WireError {
    WireError::new(
        Code::Unavailable,
        format!("the Docker engine is not available: {e}"),
    )
}

pub(super) fn subscribe_error(e: SubscribeError) -> WireError {
    match e {
        SubscribeError::Start(StartError::NotFound) => WireError::forbidden_or_missing(),
        SubscribeError::Start(StartError::Unreadable(m)) => WireError::new(
            Code::Unavailable,
            format!("Docker cannot read this container's log: {m}"),
        ),
        other => unavailable(other),
    }
}
