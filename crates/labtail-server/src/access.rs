//! Who may see which containers (live, and in history): the one place
//! this rule lives.
//!
//! A student's lookups are scoped to containers whose owner label equals
//! their user name; an instructor's to containers that have the owner label
//! at all. The role and name come from the user row read from the database
//! at each event, never from the client. "Not yours" and "does not exist"
//! give the identical answer (`forbidden_or_missing`).

use labtail_history::Visible;
use labtail_logs::Scope;

use crate::db::Role;

/// The containers a role may see.
pub fn scope_for(role: Role, username: &str) -> Scope {
    match role {
        Role::Student => Scope::Owner(username.to_owned()),
        Role::Instructor => Scope::AllLabContainers,
    }
}

/// The histories a role may read: the same rule, as history applies it.
pub fn visible_for(role: Role, username: &str) -> Visible {
    match scope_for(role, username) {
        Scope::Owner(user) => Visible::Owner(user),
        Scope::AllLabContainers => Visible::All,
    }
}
