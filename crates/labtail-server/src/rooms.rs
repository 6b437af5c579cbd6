//! Socket.IO room names: every room labtail puts a socket in, in one place.
//!
//! With Redis, rooms are shared by every node (`cluster.rs`): a room
//! operation without `local()` reaches the sockets of all of them.

use labtail_logs::DockerId;

/// Every socket of a user (`user:<id>`): socket limits, revokes.
pub fn user(user_id: i64) -> String {
    format!("user:{user_id}")
}

/// Every socket of a session (`session:<id>`): logout ends them.
pub fn session(session_id: &str) -> String {
    format!("session:{session_id}")
}

/// Every socket of a container owner (`owner:<name>`): lifecycle updates
/// of their containers.
pub fn owner(owner: &str) -> String {
    format!("owner:{owner}")
}

/// Every staff socket that sees every lab container (admins; instructors
/// while no course exists): lifecycle updates of every lab container.
pub const INSTRUCTORS: &str = "instructors";

/// Every staff socket limited to its courses: each update is narrowed to
/// the socket's scope (`socket/scope.rs`).
pub const INSTRUCTORS_BY_COURSE: &str = "instructors-by-course";

/// The all-seeing sockets with the dashboard open on this node.
pub const DASHBOARD: &str = "dashboard";

/// The course-limited sockets with the dashboard open on this node.
pub const DASHBOARD_BY_COURSE: &str = "dashboard-by-course";

/// The room a socket is in while it watches a container: the adapter knows
/// every node's rooms, so these say who watches what across nodes.
pub fn watching(container: &DockerId, user: &str) -> String {
    format!("watching:{}:{user}", container.as_str())
}

/// `(container ID, user)` of a [`watching`] room. IDs are hex, so the first
/// `:` after the prefix ends the ID, whatever the user name holds.
pub fn parse_watching(room: &str) -> Option<(&str, &str)> {
    room.strip_prefix("watching:")?.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watching_rooms_round_trip_whatever_the_user_name() {
        let room = "watching:abc123:a:b";
        assert_eq!(parse_watching(room), Some(("abc123", "a:b")));
        assert_eq!(parse_watching("user:1"), None);
    }
}
