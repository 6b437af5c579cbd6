//! A container as clients see it, and the one vocabulary for its state.

use labtail_logs::{Action, ContainerInfo, RunStatus};
use serde::Serialize;

/// The state of a container or of a watch of it: one vocabulary for every
/// answer and event. Docker's own states, plus what labtail knows:
/// `removed` (gone for good), `engine-down` (its Docker engine does not
/// answer; a watch reconnects), `unavailable` (listed from before its
/// engine went away), `waiting` (a watch waiting for it to appear).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Removed,
    EngineDown,
    Unavailable,
    Waiting,
}

impl ContainerState {
    /// From Docker's word in a listing (an unknown word reads as `exited`:
    /// not running, nothing to follow).
    pub fn from_docker(state: &str) -> Self {
        match state {
            "created" => ContainerState::Created,
            "running" => ContainerState::Running,
            "paused" => ContainerState::Paused,
            "restarting" => ContainerState::Restarting,
            "removing" => ContainerState::Removing,
            "dead" => ContainerState::Dead,
            _ => ContainerState::Exited,
        }
    }

    /// What a lifecycle event makes of a container, if anything.
    pub fn after(action: Action) -> Option<Self> {
        Some(match action {
            Action::Create => ContainerState::Created,
            Action::Start | Action::Restart | Action::Unpause => ContainerState::Running,
            Action::Die => ContainerState::Exited,
            Action::Pause => ContainerState::Paused,
            Action::Destroy => ContainerState::Removed,
            Action::Rename | Action::Oom | Action::Healthy | Action::Unhealthy | Action::Other => {
                return None;
            }
        })
    }
}

impl From<&RunStatus> for ContainerState {
    fn from(s: &RunStatus) -> Self {
        match s {
            RunStatus::Running => ContainerState::Running,
            RunStatus::Exited { .. } => ContainerState::Exited,
            RunStatus::EngineDown => ContainerState::EngineDown,
            RunStatus::Removed => ContainerState::Removed,
        }
    }
}

/// A container in `list-containers`, `GET /api/containers` and dashboard
/// rows. Students get only their own, so `owner` is never someone else's
/// name in a student's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS), ts(rename = "Container"))]
pub struct WireContainer {
    /// `name`, or `host/name` with several Docker engines.
    pub name: String,
    /// Docker's ID, 12 digits as `docker ps` shows it.
    pub id: String,
    pub owner: Option<String>,
    pub state: ContainerState,
    /// Docker's summary, e.g. `Up 5 minutes`.
    pub status: String,
    pub image: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// When its last run ended (RFC 3339), for one that is not running,
    /// where known (history records it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub ended_at: Option<String>,
    /// How its last run ended, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub exit_code: Option<i64>,
    /// Its course label's value, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub course: Option<String>,
    /// Its lab label's value, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub lab: Option<String>,
    /// Its lab's checkpoints, reached or not, where the lab has some
    /// (a student's checklist).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub checkpoints: Option<Vec<super::Checkpoint>>,
}

impl From<&ContainerInfo> for WireContainer {
    fn from(c: &ContainerInfo) -> Self {
        WireContainer {
            checkpoints: None,
            name: c.name.clone(),
            id: c.id.short().to_owned(),
            owner: c.owner.clone(),
            state: if c.host_down {
                ContainerState::Unavailable
            } else {
                ContainerState::from_docker(&c.state)
            },
            status: c.status.clone(),
            image: c.image.clone(),
            created: c.created,
            ended_at: None,
            exit_code: None,
            course: c.course.clone(),
            lab: c.lab.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_kebab_case_words() {
        assert_eq!(
            serde_json::to_value(ContainerState::EngineDown).unwrap(),
            "engine-down"
        );
        assert_eq!(
            ContainerState::from_docker("running"),
            ContainerState::Running
        );
        assert_eq!(
            ContainerState::after(Action::Destroy),
            Some(ContainerState::Removed)
        );
        assert_eq!(ContainerState::after(Action::Other), None);
    }
}
