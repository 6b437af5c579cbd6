//! Courses and enrolments, and the users a school's identity provider
//! made: what decides which students an instructor sees.

use labtail_history::BeginWrite;
use std::collections::BTreeMap;
use std::sync::Arc;

use labtail_logs::Courses;

use super::{Db, DbError, Pool, RawUser, Role, USER_COLUMNS, UserRow, count, now_text};
use crate::db::users::to_user;

/// What an instructor teaches, shared by concurrent asks: `None` when no
/// course exists at all (then instructors see every lab container).
pub(super) type SharedTeaching = Result<Option<Arc<Courses>>, Arc<DbError>>;

/// Where an enrolment came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `labtail course enrol` by hand, or its CSV.
    Cli,
    /// The identity provider's groups, replaced at each sign-in.
    Oidc,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Cli => "cli",
            Source::Oidc => "oidc",
        }
    }
}

/// A course and who is in it (`labtail course list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseRow {
    pub name: String,
    pub instructors: Vec<String>,
    pub students: Vec<String>,
}

/// A usable course name: what a Docker label and a URL carry as they are.
pub fn validate_course(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let ok = !name.is_empty()
        && name.len() <= 64
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid course name {name:?}: use 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit"
        ))
    }
}

/// One row of a roster: who, and as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub username: String,
    pub role: Role,
}

impl Db {
    pub async fn add_course(&self, name: &str) -> Result<(), DbError> {
        let res = with_pool!(self, p => sqlx::query("INSERT INTO courses (name, created_at) VALUES ($1, $2)")
            .bind(name)
            .bind(now_text())
            .execute(p)
            .await
            .map(|_| ()));
        match res {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(DbError::CourseExists(name.to_owned()))
            }
            other => {
                self.teaching.forget_all();
                Ok(other?)
            }
        }
    }

    /// Every course with its instructors and students.
    pub async fn list_courses(&self) -> Result<Vec<CourseRow>, DbError> {
        count("courses");
        let courses: Vec<(String,)> = with_pool!(self, p => sqlx::query_as(
            "SELECT name FROM courses ORDER BY name",
        )
        .fetch_all(p)
        .await)?;
        let rows: Vec<(String, String, String)> = with_pool!(self, p => sqlx::query_as(
            "SELECT course, username, role FROM enrolments ORDER BY course, username",
        )
        .fetch_all(p)
        .await)?;
        let mut out: BTreeMap<String, CourseRow> = courses
            .into_iter()
            .map(|(name,)| {
                let row = CourseRow {
                    name: name.clone(),
                    instructors: Vec::new(),
                    students: Vec::new(),
                };
                (name, row)
            })
            .collect();
        for (course, user, role) in rows {
            if let Some(c) = out.get_mut(&course) {
                match role.as_str() {
                    "instructor" => c.instructors.push(user),
                    _ => c.students.push(user),
                }
            }
        }
        Ok(out.into_values().collect())
    }

    /// Enrols users in a course (it must exist) in one transaction, making
    /// the users that do not exist yet (`new_users`: name, role, hash):
    /// either all of it is applied, or nothing.
    pub async fn enrol(
        &self,
        course: &str,
        rows: &[Enrolment],
        new_users: &[(String, Role, String)],
        source: Source,
    ) -> Result<(), DbError> {
        with_pool!(self, p => {
            let mut tx = p.begin_write().await?;
            let exists: Option<(String,)> = sqlx::query_as("SELECT name FROM courses WHERE name = $1")
                .bind(course)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(DbError::NoSuchCourse(course.to_owned()));
            }
            for (name, role, hash) in new_users {
                sqlx::query("INSERT INTO users (username, role, password_hash, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(name)
                    .bind(role.as_str())
                    .bind(hash)
                    .bind(now_text())
                    .execute(&mut *tx)
                    .await?;
            }
            for r in rows {
                let role = if r.role == Role::Student { "student" } else { "instructor" };
                sqlx::query(
                    "INSERT INTO enrolments (course, username, role, source) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (course, username) DO UPDATE SET role = $3, source = $4",
                )
                .bind(course)
                .bind(&r.username)
                .bind(role)
                .bind(source.as_str())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<(), DbError>(())
        })?;
        self.users.forget_all();
        self.teaching.forget_all();
        Ok(())
    }

    /// Takes a user out of a course; false if they were not in it.
    pub async fn drop_enrolment(&self, course: &str, username: &str) -> Result<bool, DbError> {
        let n = with_pool!(self, p => sqlx::query("DELETE FROM enrolments WHERE course = $1 AND username = $2")
            .bind(course)
            .bind(username)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        self.teaching.forget_all();
        Ok(n > 0)
    }

    /// The courses a user is in, and as what.
    pub async fn courses_of(&self, username: &str) -> Result<Vec<(String, Role)>, DbError> {
        count("courses");
        let rows: Vec<(String, String)> = with_pool!(self, p => sqlx::query_as(
            "SELECT course, role FROM enrolments WHERE username = $1 ORDER BY course",
        )
        .bind(username)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(c, r)| {
                (
                    c,
                    if r == "instructor" {
                        Role::Instructor
                    } else {
                        Role::Student
                    },
                )
            })
            .collect())
    }

    /// The students of each course `username` teaches; `None` when there is
    /// no course at all. Concurrent asks for one user share one query.
    pub async fn teaching(&self, username: &str) -> Result<Option<Arc<Courses>>, DbError> {
        let db = self.clone();
        let name = username.to_owned();
        let read = async move { db.read_teaching(&name).await.map_err(Arc::new) };
        self.teaching
            .get(username.to_owned(), read)
            .await
            .map_err(DbError::Shared)
    }

    async fn read_teaching(&self, username: &str) -> Result<Option<Arc<Courses>>, DbError> {
        count("teaching");
        let any: Option<(String,)> = with_pool!(self, p => sqlx::query_as("SELECT name FROM courses LIMIT 1")
            .fetch_optional(p)
            .await)?;
        if any.is_none() {
            return Ok(None);
        }
        let rows: Vec<(String, String)> = with_pool!(self, p => sqlx::query_as(
            "SELECT t.course, s.username FROM enrolments t \
             JOIN enrolments s ON s.course = t.course AND s.role = 'student' \
             WHERE t.username = $1 AND t.role = 'instructor'",
        )
        .bind(username)
        .fetch_all(p)
        .await)?;
        let mut out = Courses::new();
        let taught: Vec<(String,)> = with_pool!(self, p => sqlx::query_as(
            "SELECT course FROM enrolments WHERE username = $1 AND role = 'instructor'",
        )
        .bind(username)
        .fetch_all(p)
        .await)?;
        for (course,) in taught {
            out.entry(course).or_default();
        }
        for (course, student) in rows {
            out.entry(course).or_default().insert(student);
        }
        Ok(Some(Arc::new(out)))
    }

    /// The user a provider's identity belongs to.
    pub async fn user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserRow>, DbError> {
        count("user_by_identity");
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2"
        );
        let row: Option<RawUser> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(issuer)
            .bind(subject)
            .fetch_optional(p)
            .await)?;
        row.map(to_user).transpose()
    }

    /// Whether a user has a provider's identity (an OIDC user) at all.
    pub async fn has_identity(&self, username: &str) -> Result<bool, DbError> {
        let row: Option<(Option<String>,)> = with_pool!(self, p => sqlx::query_as(
            "SELECT oidc_subject FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(p)
        .await)?;
        Ok(row.and_then(|(s,)| s).is_some())
    }

    /// A signed-in user as the provider's groups make them now: made at
    /// the first sign-in, their role and provider-given enrolments replaced
    /// at every one (in one transaction). Courses the groups name are made.
    pub async fn sync_identity(
        &self,
        issuer: &str,
        subject: &str,
        username: &str,
        role: Role,
        courses: &[(String, Role)],
        new_password_hash: &str,
    ) -> Result<UserRow, DbError> {
        with_pool!(self, p => {
            let mut tx = p.begin_write().await?;
            let found: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2",
            )
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&mut *tx)
            .await?;
            match found {
                Some((id,)) => {
                    // A new role ends the sessions made with the old one
                    // (a socket keeps the role it connected with).
                    sqlx::query(
                        "UPDATE users SET session_epoch = session_epoch + \
                         CASE WHEN role = $2 THEN 0 ELSE 1 END, role = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    let made = sqlx::query(
                        "INSERT INTO users (username, role, password_hash, created_at, oidc_issuer, oidc_subject) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(username)
                    .bind(role.as_str())
                    .bind(new_password_hash)
                    .bind(now_text())
                    .bind(issuer)
                    .bind(subject)
                    .execute(&mut *tx)
                    .await;
                    match made {
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                            return Err(DbError::UserExists(username.to_owned()));
                        }
                        other => {
                            other?;
                        }
                    }
                }
            }
            sqlx::query("DELETE FROM enrolments WHERE username = $1 AND source = 'oidc'")
                .bind(username)
                .execute(&mut *tx)
                .await?;
            for (course, r) in courses {
                sqlx::query(
                    "INSERT INTO courses (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(course)
                .bind(now_text())
                .execute(&mut *tx)
                .await?;
                let r = if *r == Role::Student { "student" } else { "instructor" };
                sqlx::query(
                    "INSERT INTO enrolments (course, username, role, source) VALUES ($1, $2, $3, 'oidc') \
                     ON CONFLICT (course, username) DO UPDATE SET role = $3, source = 'oidc'",
                )
                .bind(course)
                .bind(username)
                .bind(r)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<(), DbError>(())
        })?;
        self.users.forget_all();
        self.teaching.forget_all();
        self.user_by_name(username)
            .await?
            .ok_or_else(|| DbError::NoSuchUser(username.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_names() {
        for ok in ["NET101", "sec-201", "a", "Lab_2.b"] {
            assert!(validate_course(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "a b", "a/b", &"x".repeat(65), "é"] {
            assert!(validate_course(bad).is_err(), "{bad}");
        }
    }
}
