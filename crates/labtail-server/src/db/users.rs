//! The users: who may log in, with which role, and the hash their
//! sessions are bound to.

use std::sync::Arc;

use super::{Db, DbError, Pool, RawUser, Role, USER_COLUMNS, UserRow, auth_hash, count, now_text};

impl Db {
    pub async fn create_user(
        &self,
        username: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<UserRow, DbError> {
        let res = with_pool!(self, p => sqlx::query(
            "INSERT INTO users (username, role, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(username)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now_text())
        .execute(p)
        .await
        .map(|_| ()));
        match res {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(DbError::UserExists(username.to_owned()));
            }
            other => other?,
        }
        self.user_by_name(username)
            .await?
            .ok_or_else(|| DbError::NoSuchUser(username.to_owned()))
    }

    /// The user with this id. Every socket event and handshake asks it, so
    /// concurrent asks for one user share one query.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, DbError> {
        let db = self.clone();
        let read = async move { db.read_user_by_id(id).await.map_err(Arc::new) };
        self.users.get(id, read).await.map_err(DbError::Shared)
    }

    async fn read_user_by_id(&self, id: i64) -> Result<Option<UserRow>, DbError> {
        count("user_by_id");
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<RawUser> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
        row.map(to_user).transpose()
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, DbError> {
        count("user_by_name");
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row: Option<RawUser> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(username).fetch_optional(p).await)?;
        row.map(to_user).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>, DbError> {
        count("list_users");
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        let rows: Vec<RawUser> = with_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?;
        rows.into_iter().map(to_user).collect()
    }

    /// Ends every session of a user (and so their sockets).
    pub async fn revoke_sessions(&self, username: &str) -> Result<(), DbError> {
        let n = with_pool!(self, p => sqlx::query(
            "UPDATE users SET session_epoch = session_epoch + 1 WHERE username = $1",
        )
        .bind(username)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        self.users.forget_all();
        if n == 0 {
            return Err(DbError::NoSuchUser(username.to_owned()));
        }
        Ok(())
    }

    pub async fn remove_user(&self, username: &str) -> Result<(), DbError> {
        let n = with_pool!(self, p => sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        self.users.forget_all();
        self.teaching.forget_all();
        if n == 0 {
            return Err(DbError::NoSuchUser(username.to_owned()));
        }
        Ok(())
    }

    pub async fn set_password(&self, username: &str, password_hash: &str) -> Result<(), DbError> {
        let n = with_pool!(self, p => sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE username = $2",
        )
        .bind(password_hash)
        .bind(username)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        self.users.forget_all();
        if n == 0 {
            return Err(DbError::NoSuchUser(username.to_owned()));
        }
        Ok(())
    }

    /// For each id, the current auth hash, or nothing when the user is gone.
    /// Used to end the sockets of removed users and changed passwords.
    pub async fn auth_hashes(
        &self,
        ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, String>, DbError> {
        let mut out = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            count("auth_hashes");
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, password_hash, session_epoch FROM users WHERE id IN ({})",
                placeholders.join(",")
            );
            let rows: Vec<(i64, String, i64)> = with_pool!(self, p => {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await
            })?;
            for (id, hash, epoch) in rows {
                out.insert(id, auth_hash(&hash, epoch));
            }
        }
        Ok(out)
    }
}

pub(super) fn to_user(r: RawUser) -> Result<UserRow, DbError> {
    Ok(UserRow {
        id: r.id,
        username: r.username,
        role: r.role.parse().map_err(|_| DbError::BadRow(r.role))?,
        password_hash: r.password_hash,
        session_epoch: r.session_epoch,
        created_at: r.created_at,
    })
}
