//! Who may see which containers: the one place this rule lives.
//!
//! A student's lookups are scoped to containers whose owner label equals
//! their user name; an instructor's to containers that have the owner label
//! at all. The role and name come from the user row read from the database
//! at each event, never from the client. "Not yours" and "does not exist"
//! give the identical answer (`forbidden_or_missing`).

use labtail_logs::Scope;

use crate::db::Role;

/// The containers a role may see.
pub fn scope_for(role: Role, username: &str) -> Scope {
    match role {
        Role::Student => Scope::Owner(username.to_owned()),
        Role::Instructor => Scope::AllLabContainers,
    }
}
