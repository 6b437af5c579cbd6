//! `labtail course …`: courses and enrolments without a school sign-in.
//!
//! `enrol --csv` reads the whole roster and checks every row before it
//! writes anything, then applies it in one transaction: a bad file changes
//! nothing. Users the roster names that do not exist are made with
//! generated passwords, which go to `--passwords-out` (a new file, only
//! its owner may read it) and nowhere else: not to the terminal, not to
//! the log.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use labtail_server::auth;
use labtail_server::db::{
    Db, DbError, Enrolment, Role, Source, validate_course, validate_username,
};

use crate::Fail;

#[derive(Debug, Subcommand)]
pub enum CourseCommand {
    /// Add a course.
    Add { name: String },
    /// List courses with their instructors and students.
    List,
    /// Enrol users from a CSV roster (header `username,role`; role is
    /// student or instructor). Users that do not exist are created.
    Enrol {
        name: String,
        #[arg(long)]
        csv: PathBuf,
        /// Where the generated passwords of created users go (a new file).
        #[arg(long)]
        passwords_out: Option<PathBuf>,
    },
    /// Take a user out of a course.
    Drop { name: String, user: String },
}

fn db_fail(e: DbError) -> Fail {
    match e {
        DbError::NoSuchCourse(_)
        | DbError::CourseExists(_)
        | DbError::NoSuchUser(_)
        | DbError::UserExists(_) => Fail::config(e.to_string()),
        other => Fail::runtime(other.to_string()),
    }
}

/// Audits a change made from the command line (user `cli`… is the person
/// at the terminal; the record names who was enrolled or dropped).
async fn audit(db: &Db, username: &str, detail: &str) {
    if let Err(e) = db
        .audit(
            labtail_server::audit::Kind::Enrolment.as_str(),
            username,
            None,
            None,
            Some(detail),
        )
        .await
    {
        eprintln!("labtail: warning: could not write the audit log: {e}");
    }
}

pub async fn run(cmd: CourseCommand, db: &Db) -> Result<(), Fail> {
    match cmd {
        CourseCommand::Add { name } => {
            validate_course(&name).map_err(Fail::config)?;
            db.add_course(&name).await.map_err(db_fail)?;
            audit(db, "-", &format!("course {name} added")).await;
            println!("added course {name}");
            Ok(())
        }
        CourseCommand::List => {
            let courses = db.list_courses().await.map_err(db_fail)?;
            println!("{:<20} {:<30} STUDENTS", "COURSE", "INSTRUCTORS");
            for c in courses {
                println!(
                    "{:<20} {:<30} {}",
                    c.name,
                    c.instructors.join(","),
                    c.students.join(",")
                );
            }
            Ok(())
        }
        CourseCommand::Drop { name, user } => {
            validate_course(&name).map_err(Fail::config)?;
            if !db.drop_enrolment(&name, &user).await.map_err(db_fail)? {
                return Err(Fail::config(format!("{user} is not in course {name}")));
            }
            audit(db, &user, &format!("dropped from {name}")).await;
            println!(
                "dropped {user} from {name}; instructors stop seeing their containers within the re-check interval"
            );
            Ok(())
        }
        CourseCommand::Enrol {
            name,
            csv,
            passwords_out,
        } => enrol(db, &name, &csv, passwords_out.as_deref()).await,
    }
}

/// Reads a roster: every row checked, the first problem named with its
/// line.
pub fn read_roster(path: &Path) -> Result<Vec<Enrolment>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("--csv {}: cannot read: {e}", path.display()))?;
    parse_roster(file).map_err(|e| format!("--csv {}: {e}", path.display()))
}

fn parse_roster(input: impl std::io::Read) -> Result<Vec<Enrolment>, String> {
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let headers = rd
        .headers()
        .map_err(|e| format!("line 1: {e}"))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect::<Vec<_>>();
    if headers != ["username", "role"] {
        return Err(format!(
            "line 1: the header must be `username,role`, not `{}`",
            headers.join(",")
        ));
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for rec in rd.records() {
        let rec = rec.map_err(|e| match e.position() {
            Some(p) => format!("line {}: {e}", p.line()),
            None => e.to_string(),
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let (Some(user), Some(role)) = (rec.get(0), rec.get(1)) else {
            return Err(format!("line {line}: expected username,role"));
        };
        if user.is_empty() && role.is_empty() {
            continue;
        }
        validate_username(user).map_err(|e| format!("line {line}: {e}"))?;
        let role = match role {
            "student" => Role::Student,
            "instructor" => Role::Instructor,
            other => {
                return Err(format!(
                    "line {line}: role {other:?}: expected student or instructor"
                ));
            }
        };
        if !seen.insert(user.to_owned()) {
            return Err(format!("line {line}: {user} is listed twice"));
        }
        out.push(Enrolment {
            username: user.to_owned(),
            role,
        });
    }
    if out.is_empty() {
        return Err("no rows after the header".into());
    }
    Ok(out)
}

async fn enrol(
    db: &Db,
    course: &str,
    csv: &Path,
    passwords_out: Option<&Path>,
) -> Result<(), Fail> {
    validate_course(course).map_err(Fail::config)?;
    let rows = read_roster(csv).map_err(Fail::config)?;
    // Who is new, and whether the existing ones fit their rows.
    let mut missing = Vec::new();
    for r in &rows {
        match db.user_by_name(&r.username).await.map_err(db_fail)? {
            None => missing.push(r.clone()),
            Some(u) if r.role == Role::Instructor && !u.role.is_staff() => {
                return Err(Fail::config(format!(
                    "{} is a student; only an instructor or admin can teach {course} (nothing was changed)",
                    r.username
                )));
            }
            Some(_) => {}
        }
    }
    // The passwords file is made before anything is written, so a
    // password can never be generated and then lost.
    let mut out = match (missing.is_empty(), passwords_out) {
        (true, _) => None,
        (false, None) => {
            return Err(Fail::config(format!(
                "{} user(s) in the roster do not exist ({}); give --passwords-out FILE to create them (nothing was changed)",
                missing.len(),
                missing
                    .iter()
                    .map(|r| r.username.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        (false, Some(path)) => Some((path, new_private_file(path)?)),
    };
    let mut new_users = Vec::new();
    let mut passwords = Vec::new();
    for r in &missing {
        let password = auth::random_password();
        let hash = auth::hash_password(password.clone())
            .await
            .map_err(|e| Fail::runtime(e.to_string()))?;
        new_users.push((r.username.clone(), r.role, hash));
        passwords.push((r.username.clone(), password));
    }
    let applied = db.enrol(course, &rows, &new_users, Source::Cli).await;
    if let Err(e) = applied {
        if let Some((path, _)) = &out {
            let _ = std::fs::remove_file(path);
        }
        return Err(db_fail(e));
    }
    if let Some((path, file)) = &mut out {
        let mut text = String::from("username,password\n");
        for (u, p) in &passwords {
            text.push_str(&format!("{u},{p}\n"));
        }
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| {
                Fail::runtime(format!(
                    "the users were created, but their passwords could not be written to {}: {e}; set new ones with `labtail user passwd`",
                    path.display()
                ))
            })?;
    }
    for r in &rows {
        audit(
            db,
            &r.username,
            &format!("enrolled in {course} as {}", r.role.as_str()),
        )
        .await;
    }
    println!(
        "enrolled {} user(s) in {course}; created {}{}",
        rows.len(),
        new_users.len(),
        match &out {
            Some((path, _)) => format!(" (passwords in {})", path.display()),
            None => String::new(),
        }
    );
    Ok(())
}

/// A new file only its owner can read; an existing one is refused (it may
/// hold another roster's passwords).
fn new_private_file(path: &Path) -> Result<std::fs::File, Fail> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map_err(|e| {
        Fail::config(format!(
            "--passwords-out {}: {e} (nothing was changed)",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roster_is_read_whole_or_refused_with_its_line() {
        let ok =
            parse_roster("username,role\nann,student\n bob , instructor\n".as_bytes()).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].username, "bob");
        assert_eq!(ok[1].role, Role::Instructor);
        let cases = [
            ("user,role\nann,student\n", "line 1"),
            ("username,role\nann,student\nbob,teacher\n", "line 3"),
            ("username,role\nann,student\nBad Name,student\n", "line 3"),
            ("username,role\nann,student\nann,student\n", "line 3"),
            ("username,role\nann,student,extra\n", "line 2"),
            ("username,role\n", "no rows"),
        ];
        for (text, want) in cases {
            let e = parse_roster(text.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
