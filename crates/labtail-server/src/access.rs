//! Who may see which containers (live, and in history): the one place
//! this rule lives.
//!
//! - a student: the containers whose owner label is their user name;
//! - an admin: every lab container;
//! - an instructor: while no course exists at all, every lab container (as
//!   before courses); once one does, the containers of the students
//!   enrolled in the courses they teach, and of a container that names its
//!   course (its course label), only when that is one of them with that
//!   student in it.
//!
//! The role and name come from the user row read from the database at each
//! event, the courses from the enrolments read then too, never from the
//! client. "Not yours" and "does not exist" give the identical answer
//! (`forbidden_or_missing`).

use std::sync::Arc;

use labtail_history::Visible;
use labtail_logs::Scope;

use crate::db::{Db, DbError, Role};

/// What one user may see, for live containers and for history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub scope: Scope,
    pub visible: Visible,
}

impl Access {
    /// From a live scope, the same rule for history.
    pub fn from_scope(scope: Scope) -> Self {
        let visible = match &scope {
            Scope::Owner(user) => Visible::Owner(user.clone()),
            Scope::AllLabContainers => Visible::All,
            Scope::Courses(c) => Visible::Courses(Arc::clone(c)),
        };
        Access { scope, visible }
    }
}

/// What `username` (with `role`) may see now.
pub async fn access_of(db: &Db, role: Role, username: &str) -> Result<Access, DbError> {
    let scope = match role {
        Role::Student => Scope::Owner(username.to_owned()),
        Role::Admin => Scope::AllLabContainers,
        Role::Instructor => match db.teaching(username).await? {
            None => Scope::AllLabContainers,
            Some(courses) => Scope::Courses(courses),
        },
    };
    Ok(Access::from_scope(scope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn an_instructor_sees_their_courses_students_and_of_a_labelled_container_only_its_course() {
        let courses: BTreeMap<String, BTreeSet<String>> = [
            (
                "NET101".to_owned(),
                BTreeSet::from(["ann".to_owned(), "both".to_owned()]),
            ),
            ("SEC201".to_owned(), BTreeSet::from(["bob".to_owned()])),
        ]
        .into();
        let a = Access::from_scope(Scope::Courses(Arc::new(courses)));
        assert!(a.scope.covers(Some("ann"), None));
        assert!(a.scope.covers(Some("both"), Some("NET101")));
        assert!(!a.scope.covers(Some("both"), Some("OS300")));
        assert!(!a.scope.covers(Some("ann"), Some("SEC201")));
        assert!(!a.scope.covers(Some("cyd"), None));
        assert!(!a.scope.covers(None, None));
        assert!(a.visible.covers_container("bob", Some("SEC201")));
        assert!(!a.visible.covers_container("bob", Some("NET101")));
    }
}
