//! Accounts in storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::user::Role;

/// A live (not deleted) account as stored.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub email: String,
    pub nickname: Option<String>,
    pub role: Role,
    pub token_version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new account, already validated and hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub email: String,
    pub nickname: Option<String>,
    pub role: Role,
}

/// An admin's change to an account; `None` keeps the field as it is.
#[derive(Debug, Clone)]
pub struct UserUpdate {
    pub username: String,
    pub password_hash: Option<String>,
    pub email: String,
    pub nickname: Option<String>,
    pub role: Role,
}

/// The columns [`UserRow`] reads, for every backend.
pub(in crate::store) const USER_COLUMNS: &str =
    "id, username, password_hash, email, nickname, role, token_version, created_at, updated_at";

/// A `users` row as every backend returns it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct UserRow {
    id: i64,
    username: String,
    password_hash: String,
    email: String,
    nickname: Option<String>,
    role: String,
    token_version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        let role = row.role.parse().map_err(|e| {
            StoreError::Other(anyhow::anyhow!("user {} has role {:?}: {e}", row.id, row.role))
        })?;
        Ok(UserRecord {
            id: row.id,
            username: row.username,
            password_hash: row.password_hash,
            email: row.email,
            nickname: row.nickname,
            role,
            token_version: row.token_version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Accounts.
#[async_trait]
pub trait UserStore {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Inserts an account; `Duplicate` names the clashing field.
    async fn create_user(&self, new: &NewUser) -> Result<UserRecord, StoreError>;
    /// A live account by id.
    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError>;
    /// A live account by username, ignoring case.
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Every live account, oldest first.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// A user's own change of email and nickname.
    async fn update_profile(
        &self,
        id: i64,
        email: &str,
        nickname: Option<&str>,
    ) -> Result<UserRecord, StoreError>;
    /// An admin's change. When the role or password changes, the token version is bumped so
    /// that every token issued before stops working.
    async fn admin_update_user(&self, id: i64, update: &UserUpdate) -> Result<UserRecord, StoreError>;
    /// Soft-deletes an account, bumps its token version, revokes its refresh tokens and
    /// cancels its reservations of concerts not yet started, in one transaction. Returns
    /// the new token version.
    async fn delete_user(&self, id: i64) -> Result<i64, StoreError>;
    /// `(user id, token version)` of every account whose version is above zero.
    async fn token_versions(&self) -> Result<Vec<(i64, i64)>, StoreError>;
}
