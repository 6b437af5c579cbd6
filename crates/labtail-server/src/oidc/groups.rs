//! The operator's mapping from the identity provider's groups to labtail's
//! roles and courses (`--oidc-groups-file`, TOML):
//!
//! ```toml
//! [[group]]
//! name = "net101-staff"
//! role = "instructor"
//! course = "NET101"
//!
//! [[group]]
//! name = "lab-admins"
//! role = "admin"        # course may be left out for admin
//! ```
//!
//! A user in several groups gets the highest role and the union of the
//! courses (in each, the highest role the groups give there). A user whose
//! groups map to nothing cannot sign in.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::db::{Role, validate_course};

/// What one group gives.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    role: Role,
    course: Option<String>,
}

/// The parsed mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMap {
    groups: HashMap<String, Vec<Grant>>,
}

/// What a user's groups make of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub role: Role,
    /// Each course, with the role in it (student or instructor).
    pub courses: Vec<(String, Role)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    group: Vec<toml::Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    role: String,
    course: Option<String>,
}

fn rank(r: Role) -> u8 {
    match r {
        Role::Student => 0,
        Role::Instructor => 1,
        Role::Admin => 2,
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.bytes().filter(|b| *b == b'\n').count())
        + 1
}

impl GroupMap {
    /// Reads the file; the error names the file, the line and the problem.
    pub fn load(path: &Path) -> Result<GroupMap, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<GroupMap, String> {
        let file: File = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!("line {}: ", line_of(text, s.start)))
                .unwrap_or_default();
            format!("{at}{}", e.message())
        })?;
        let mut groups: HashMap<String, Vec<Grant>> = HashMap::new();
        for spanned in file.group {
            let line = line_of(text, spanned.span().start);
            let e = spanned.into_inner();
            let role: Role = e
                .role
                .parse()
                .map_err(|m| format!("line {line}: group {:?}: {m}", e.name))?;
            if e.name.trim().is_empty() {
                return Err(format!("line {line}: a group needs a name"));
            }
            match (&e.course, role) {
                (None, Role::Student | Role::Instructor) => {
                    return Err(format!(
                        "line {line}: group {:?}: a {} group needs a course",
                        e.name,
                        role.as_str()
                    ));
                }
                (Some(c), _) => validate_course(c)
                    .map_err(|m| format!("line {line}: group {:?}: {m}", e.name))?,
                (None, Role::Admin) => {}
            }
            groups.entry(e.name).or_default().push(Grant {
                role,
                course: e.course,
            });
        }
        if groups.is_empty() {
            return Err("no [[group]] defined: nobody could sign in".into());
        }
        Ok(GroupMap { groups })
    }

    /// What `user_groups` give; `None` when none of them is mapped.
    pub fn map(&self, user_groups: &[String]) -> Option<Mapped> {
        let mut role: Option<Role> = None;
        let mut courses: BTreeMap<String, Role> = BTreeMap::new();
        for g in user_groups {
            for grant in self.groups.get(g).into_iter().flatten() {
                if role.is_none_or(|r| rank(grant.role) > rank(r)) {
                    role = Some(grant.role);
                }
                if let Some(c) = &grant.course {
                    // An admin's group that names a course teaches it.
                    let in_course = match grant.role {
                        Role::Student => Role::Student,
                        Role::Instructor | Role::Admin => Role::Instructor,
                    };
                    let e = courses.entry(c.clone()).or_insert(in_course);
                    if rank(in_course) > rank(*e) {
                        *e = in_course;
                    }
                }
            }
        }
        Some(Mapped {
            role: role?,
            courses: courses.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[group]]
name = "net101-staff"
role = "instructor"
course = "NET101"

[[group]]
name = "net101-students"
role = "student"
course = "NET101"

[[group]]
name = "sec201-students"
role = "student"
course = "SEC201"

[[group]]
name = "lab-admins"
role = "admin"
"#;

    fn groups(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn highest_role_and_the_union_of_courses() {
        let m = GroupMap::parse(FILE).unwrap();
        let got = m
            .map(&groups(&["net101-staff", "sec201-students", "other"]))
            .unwrap();
        assert_eq!(got.role, Role::Instructor);
        assert_eq!(
            got.courses,
            vec![
                ("NET101".to_owned(), Role::Instructor),
                ("SEC201".to_owned(), Role::Student)
            ]
        );
        let both = m
            .map(&groups(&["net101-students", "net101-staff"]))
            .unwrap();
        assert_eq!(both.courses, vec![("NET101".to_owned(), Role::Instructor)]);
        let admin = m.map(&groups(&["lab-admins"])).unwrap();
        assert_eq!((admin.role, admin.courses.len()), (Role::Admin, 0));
        assert_eq!(m.map(&groups(&["unknown"])), None);
        assert_eq!(m.map(&[]), None);
    }

    #[test]
    fn a_bad_file_names_the_line_and_the_problem() {
        let cases = [
            (
                "[[group]]\nname = \"a\"\nrole = \"teacher\"\ncourse = \"X\"\n",
                "line 1",
                "unknown role",
            ),
            (
                "[[group]]\nname = \"a\"\nrole = \"student\"\n",
                "line 1",
                "needs a course",
            ),
            (
                "\n[[group]]\nname = \"a\"\nrole = \"student\"\ncourse = \"a b\"\n",
                "line 2",
                "invalid course",
            ),
            (
                "[[group]]\nname = \"a\"\nrole = \"admin\"\ncolour = 1\n",
                "line 4",
                "colour",
            ),
            ("[[group]]\nname = \"a\nrole = 1\n", "line 2", ""),
            ("", "", "no [[group]]"),
        ];
        for (text, line, what) in cases {
            let e = GroupMap::parse(text).unwrap_err();
            assert!(e.contains(line) && e.contains(what), "{text:?}: {e}");
        }
    }
}
