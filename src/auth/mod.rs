//! Authentication: password checks, token pairs, refresh rotation and revocation.

pub mod password;
pub mod revocation;
pub mod token;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use rand::RngCore;

use self::revocation::Revocations;
use self::token::{Claims, TokenError, TokenKeys, TokenKind};
use crate::domain::user::Role;
use crate::store::{NewRefreshToken, Rotation, Store, StoreError, UserRecord};

/// An authenticated caller, from a verified access token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub role: Role,
    claims: Claims,
}

impl Principal {
    /// Whether the caller's role includes `role`.
    pub fn has(&self, role: Role) -> bool {
        self.role.includes(role)
    }
}

/// A freshly issued access/refresh pair.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// Why authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("token expired")]
    TokenExpired,
    #[error("token invalid or revoked")]
    TokenInvalid,
    #[error("refresh token reused; every session of that login was revoked")]
    TokenReused,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<TokenError> for AuthError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Expired => AuthError::TokenExpired,
            TokenError::Invalid => AuthError::TokenInvalid,
        }
    }
}

/// Issues, checks, rotates and revokes tokens.
pub struct Auth {
    keys: TokenKeys,
    store: Arc<dyn Store>,
    revocations: Arc<dyn Revocations>,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

impl Auth {
    /// Builds the service and loads the durable revocations into `revocations`.
    pub async fn new(
        secret: &[u8],
        store: Arc<dyn Store>,
        revocations: Arc<dyn Revocations>,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> anyhow::Result<Self> {
        for (id, expires_at) in store.live_revoked_token_ids().await? {
            revocations.revoke(&id, expires_at).await?;
        }
        for (user_id, version) in store.token_versions().await? {
            revocations.set_user_version(user_id, version).await?;
        }
        Ok(Self { keys: TokenKeys::new(secret), store, revocations, access_ttl, refresh_ttl })
    }

    /// Checks a username and password; the same error, after the same work, whether the
    /// user is unknown or the password wrong.
    pub async fn check_credentials(&self, username: &str, password: &str) -> Result<UserRecord, AuthError> {
        let user = self.store.user_by_username(username).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let valid = password::verify(password.to_owned(), hash).await?;
        match user {
            Some(user) if valid => Ok(user),
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// Starts a new login session for `user`: a pair in a new token family.
    pub async fn start_session(&self, user: &UserRecord) -> Result<TokenPair, AuthError> {
        self.issue(user, &uuid::Uuid::new_v4().to_string()).await
    }

    /// Issues a pair in `family` and remembers the refresh token.
    async fn issue(&self, user: &UserRecord, family: &str) -> Result<TokenPair, AuthError> {
        let (access, refresh) = self.sign_pair(user.id, user.role, user.token_version, family)?;
        self.store.insert_refresh_token(&refresh.1).await?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh.0,
            expires_in: self.access_ttl.as_secs(),
        })
    }

    #[allow(clippy::type_complexity)]
    fn sign_pair(
        &self,
        user_id: i64,
        role: Role,
        version: i64,
        family: &str,
    ) -> anyhow::Result<(String, (String, NewRefreshToken))> {
        let access = token::claims(user_id, role, version, TokenKind::Access, family, self.access_ttl);
        let refresh = token::claims(user_id, role, version, TokenKind::Refresh, family, self.refresh_ttl);
        let record = NewRefreshToken {
            jti: refresh.jti.clone(),
            family: family.to_owned(),
            user_id,
            expires_at: refresh.expires_at(),
        };
        Ok((self.keys.sign(&access)?, (self.keys.sign(&refresh)?, record)))
    }

    /// Verifies an access token and that nothing revoked it since.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthError> {
        let claims = self.keys.verify_access(access_token)?;
        self.check_not_revoked(&claims).await?;
        let user_id = claims.user_id().ok_or(AuthError::TokenInvalid)?;
        Ok(Principal { user_id, role: claims.role, claims })
    }

    async fn check_not_revoked(&self, claims: &Claims) -> Result<(), AuthError> {
        let user_id = claims.user_id().ok_or(AuthError::TokenInvalid)?;
        if self.revocations.token_dead(&[&claims.jti, &claims.fam], user_id, claims.ver).await? {
            return Err(AuthError::TokenInvalid);
        }
        Ok(())
    }

    /// Spends a refresh token for a new pair in the same family. Presenting a spent one
    /// again revokes the family: every token of that login, access tokens included.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let claims = self.keys.verify(refresh_token, TokenKind::Refresh)?;
        self.check_not_revoked(&claims).await?;
        let user_id = claims.user_id().ok_or(AuthError::TokenInvalid)?;
        let user = self.store.user_by_id(user_id).await?.ok_or(AuthError::TokenInvalid)?;
        let (access, (refresh, record)) =
            self.sign_pair(user.id, user.role, user.token_version, &claims.fam)?;
        match self.store.rotate_refresh_token(&claims.jti, &record).await? {
            Rotation::Rotated => Ok(TokenPair {
                access_token: access,
                refresh_token: refresh,
                expires_in: self.access_ttl.as_secs(),
            }),
            Rotation::Reused { family } => {
                // Access tokens of the family live at most one access TTL past now.
                let until = chrono::Utc::now() + self.access_ttl.max(self.refresh_ttl);
                self.store.revoke_token_id(&family, until).await?;
                self.revocations.revoke(&family, until).await?;
                Err(AuthError::TokenReused)
            }
            Rotation::Invalid => Err(AuthError::TokenInvalid),
        }
    }

    /// Revokes the presented access token and every refresh token of its user in the
    /// database; [`Auth::logged_out`] then tells the revocation views.
    pub async fn logout(&self, principal: &Principal) -> Result<(), AuthError> {
        self.store.revoke_user_refresh_tokens(principal.user_id).await?;
        self.store.revoke_token_id(&principal.claims.jti, principal.claims.expires_at()).await?;
        Ok(())
    }

    /// Makes a logged-out access token stop working at once (it is refused from the
    /// revocation views, not only after a reload from the database).
    pub async fn logged_out(&self, principal: &Principal) -> Result<(), AuthError> {
        self.revocations.revoke(&principal.claims.jti, principal.claims.expires_at()).await?;
        Ok(())
    }

    /// Makes every token issued to a user before now stop working.
    pub async fn user_version_changed(&self, user_id: i64, version: i64) -> Result<(), AuthError> {
        self.revocations.set_user_version(user_id, version).await?;
        Ok(())
    }
}

/// The token secret: the configured one, or one generated once and kept in `data_dir`.
pub fn load_or_create_secret(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        anyhow::ensure!(secret.len() >= 32, "JWT_SECRET must be at least 32 bytes long");
        return Ok(secret.as_bytes().to_vec());
    }
    let text = crate::key_file::load_or_create(data_dir, "jwt-secret", || {
        let mut secret = vec![0u8; 64];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        base64::engine::general_purpose::STANDARD.encode(&secret)
    })?;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .with_context(|| format!("reading {}", data_dir.join("jwt-secret").display()))
}
