//! Users and passwords: the axum-login backend over the database.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};
use axum_login::{AuthUser, AuthnBackend};

use crate::db::{Db, DbError, Role, UserRow};

/// The logged-in user as the server keeps it.
#[derive(Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    /// Password hash and session epoch: see [`UserRow::auth_hash`].
    auth_hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        let auth_hash = r.auth_hash();
        User {
            id: r.id,
            username: r.username,
            role: r.role,
            auth_hash,
        }
    }
}

impl User {
    pub fn auth_hash(&self) -> &str {
        &self.auth_hash
    }
}

impl AuthUser for User {
    type Id = i64;

    fn id(&self) -> i64 {
        self.id
    }

    /// Sessions are bound to the password hash and the session epoch:
    /// changing a password or revoking ends every session made before.
    fn session_auth_hash(&self) -> &[u8] {
        self.auth_hash.as_bytes()
    }
}

#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed")]
    Join,
}

#[derive(Clone)]
pub struct Backend {
    db: Db,
    /// Verified against when the user does not exist, so an unknown user
    /// costs the same time as a wrong password.
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").finish_non_exhaustive()
    }
}

impl Backend {
    pub async fn new(db: Db) -> Result<Self, AuthError> {
        let dummy = hash_password("labtail-timing-equaliser".to_owned()).await?;
        Ok(Backend {
            db,
            dummy_hash: dummy.into(),
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// How many argon2 computations run at once, process-wide. Each takes
/// 19 MiB and a core for tens of milliseconds; unbounded, a burst of logins
/// (a class starting) would run one per blocking thread, and the allocator
/// keeps each thread's 19 MiB resident afterwards. Bounded, a burst queues
/// and memory stays at `permits × 19 MiB`.
static HASH_PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();

/// Sets the bound (`--max-concurrent-hashes`); the default is one per core.
/// Only the first call counts.
pub fn set_hash_concurrency(n: usize) {
    let _ = HASH_PERMITS.set(tokio::sync::Semaphore::new(n.max(1)));
}

async fn hash_permit() -> Result<tokio::sync::SemaphorePermit<'static>, AuthError> {
    HASH_PERMITS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            tokio::sync::Semaphore::new(cores)
        })
        .acquire()
        .await
        .map_err(|_| AuthError::Join)
}

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes),
/// off the async threads.
pub async fn hash_password(password: String) -> Result<String, AuthError> {
    let permit = hash_permit().await?;
    tokio::task::spawn_blocking(move || {
        // Held by the computation itself, so a cancelled caller does not
        // free the slot early.
        let _permit = permit;
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Hash(e.to_string()))
    })
    .await
    .map_err(|_| AuthError::Join)?
}

/// A random password for generated accounts: 20 characters from an
/// unambiguous alphabet (about 110 bits), from the OS's random source.
pub fn random_password() -> String {
    use argon2::password_hash::rand_core::RngCore;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = OsRng;
    (0..20)
        .map(|_| {
            // Rejection sampling keeps every character equally likely.
            loop {
                let b = (rng.next_u32() & 0xff) as usize;
                if b < 256 - 256 % ALPHABET.len() {
                    return ALPHABET[b % ALPHABET.len()] as char;
                }
            }
        })
        .collect()
}

/// Checks a password against a stored PHC string, off the async threads.
pub async fn verify_password(password: String, hash: Arc<str>) -> Result<bool, AuthError> {
    let permit = hash_permit().await?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        // One full argon2 computation, for known and unknown users alike
        // (the metric is how the tests check that without timing it).
        metrics::counter!(crate::metrics::PASSWORD_CHECKS).increment(1);
        ok
    })
    .await
    .map_err(|_| AuthError::Join)
}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = AuthError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, AuthError> {
        let row = self.db.user_by_name(&creds.username).await?;
        let hash: Arc<str> = match &row {
            Some(r) => r.password_hash.as_str().into(),
            None => self.dummy_hash.clone(),
        };
        let ok = verify_password(creds.password, hash).await?;
        Ok(match row {
            Some(r) if ok => Some(r.into()),
            _ => None,
        })
    }

    async fn get_user(&self, id: &i64) -> Result<Option<User>, AuthError> {
        Ok(self.db.user_by_id(*id).await?.map(User::from))
    }
}

pub type AuthSession = axum_login::AuthSession<Backend>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let a = hash_password("pw".into()).await.unwrap();
        let b = hash_password("pw".into()).await.unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(
            verify_password("pw".into(), a.as_str().into())
                .await
                .unwrap()
        );
        assert!(
            !verify_password("nope".into(), a.as_str().into())
                .await
                .unwrap()
        );
        assert!(
            !verify_password("pw".into(), "garbage".into())
                .await
                .unwrap()
        );
    }
}
