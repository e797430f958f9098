//! Accounts: signup, sessions, profiles, and the administrators' account management.

use std::sync::Arc;

use super::audit::{AuditLog, Change, Snapshot};
use super::completion::{committed, to_completion};
use super::views::Views;
use super::{ServiceError, not_found, require};
use crate::auth::{Auth, Principal, TokenPair, password};
use crate::domain::user::{Email, Nickname, Password, Role, Username};
use crate::store::{NewUser, Store, UserRecord, UserUpdate};
use crate::throttle::Throttle;

/// A new account as signup takes it.
pub struct Signup {
    pub username: Username,
    pub password: Password,
    pub email: Email,
    pub nickname: Option<Nickname>,
}

/// An account as an administrator sets it.
pub struct AccountChange {
    pub username: Username,
    /// `None` keeps the current password.
    pub password: Option<Password>,
    pub email: Email,
    pub nickname: Option<Nickname>,
    pub role: Role,
}

/// The account use cases.
pub struct Accounts {
    store: Arc<dyn Store>,
    auth: Arc<Auth>,
    throttle: Arc<Throttle>,
    views: Arc<Views>,
    audit: Arc<AuditLog>,
}

impl Accounts {
    pub(super) fn new(
        store: Arc<dyn Store>,
        auth: Arc<Auth>,
        throttle: Arc<Throttle>,
        views: Arc<Views>,
        audit: Arc<AuditLog>,
    ) -> Self {
        Self { store, auth, throttle, views, audit }
    }

    /// Creates a fan's account. Counted against the address's signup allowance only once
    /// the input is valid: only attempts that would create an account (and cost a
    /// password hash) use it up.
    pub async fn signup(&self, address: &str, signup: Signup) -> Result<UserRecord, ServiceError> {
        self.throttle.signup(address).await?;
        let password_hash = password::hash(signup.password.expose().to_owned()).await?;
        let user = NewUser {
            username: signup.username.as_str().to_owned(),
            password_hash,
            email: signup.email.as_str().to_owned(),
            nickname: signup.nickname.map(|n| n.as_str().to_owned()),
            role: Role::User,
        };
        Ok(self.store.create_user(&user).await?)
    }

    /// Starts a session for a username and password; with `admin_only`, only for
    /// administrators (the operators' door leads to the same accounts and allowance).
    pub async fn login(
        &self,
        address: &str,
        username: &str,
        password: &str,
        admin_only: bool,
    ) -> Result<TokenPair, ServiceError> {
        self.throttle.login(username, address).await?;
        let user = self.auth.check_credentials(username, password).await?;
        if admin_only && user.role != Role::Admin {
            return Err(ServiceError::Forbidden("administrators only"));
        }
        Ok(self.auth.start_session(&user).await?)
    }

    /// Trades a refresh token for a new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ServiceError> {
        Ok(self.auth.refresh(refresh_token).await?)
    }

    /// Who an access token belongs to.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, ServiceError> {
        Ok(self.auth.authenticate(access_token).await?)
    }

    /// Ends the caller's session: its access token and every refresh token of the user.
    pub async fn logout(&self, caller: &Principal) -> Result<(), ServiceError> {
        let (auth, caller) = (self.auth.clone(), caller.clone());
        to_completion(async move {
            auth.logout(&caller).await?;
            committed().await;
            auth.logged_out(&caller).await?;
            Ok(())
        })
        .await
    }

    /// The caller's own account.
    pub async fn me(&self, caller: &Principal) -> Result<UserRecord, ServiceError> {
        self.store.user_by_id(caller.user_id).await?.ok_or(ServiceError::NotFound("user"))
    }

    /// Changes the caller's email and nickname.
    pub async fn update_profile(
        &self,
        caller: &Principal,
        email: Email,
        nickname: Option<Nickname>,
    ) -> Result<UserRecord, ServiceError> {
        let (store, views, user_id) = (self.store.clone(), self.views.clone(), caller.user_id);
        to_completion(async move {
            let nickname = nickname.as_ref().map(Nickname::as_str);
            let user = store.update_profile(user_id, email.as_str(), nickname).await?;
            committed().await;
            // The concert list shows promoters by nickname.
            views.catalog_changed().await;
            Ok(user)
        })
        .await
    }

    /// Deletes the caller's account: every token of it stops working and its seats of
    /// upcoming concerts are released.
    pub async fn delete_me(&self, caller: &Principal) -> Result<(), ServiceError> {
        let (store, auth, views, user_id) =
            (self.store.clone(), self.auth.clone(), self.views.clone(), caller.user_id);
        to_completion(async move {
            let version = store.delete_user(user_id).await?;
            committed().await;
            auth.user_version_changed(user_id, version).await?;
            // Account deletion is rare: every seat view is rebuilt rather than tracked.
            views.all_seats_unknown().await;
            Ok(())
        })
        .await
    }

    /// Every live account, for administrators.
    pub async fn list(&self, caller: &Principal) -> Result<Vec<UserRecord>, ServiceError> {
        require(caller, Role::Admin)?;
        Ok(self.store.list_users().await?)
    }

    /// Changes an account, role included (how a fan becomes a promoter or an admin). A
    /// role or password change ends every session of that account.
    pub async fn change(
        &self,
        caller: &Principal,
        id: i64,
        change: AccountChange,
    ) -> Result<UserRecord, ServiceError> {
        require(caller, Role::Admin)?;
        // An admin who demotes themself could leave the service with no admin at all.
        if id == caller.user_id && change.role != caller.role {
            return Err(ServiceError::conflict("OWN_ROLE", "administrators cannot change their own role"));
        }
        let before = self.store.user_by_id(id).await?.ok_or(ServiceError::NotFound("user"))?;
        let password_hash = match change.password {
            Some(p) => Some(password::hash(p.expose().to_owned()).await?),
            None => None,
        };
        let password_changed = password_hash.is_some();
        let update = UserUpdate {
            username: change.username.as_str().to_owned(),
            password_hash,
            email: change.email.as_str().to_owned(),
            nickname: change.nickname.map(|n| n.as_str().to_owned()),
            role: change.role,
        };
        let (store, auth, views, audit, caller) =
            (self.store.clone(), self.auth.clone(), self.views.clone(), self.audit.clone(), caller.clone());
        to_completion(async move {
            let user = store.admin_update_user(id, &update).await.map_err(not_found("user"))?;
            committed().await;
            auth.user_version_changed(user.id, user.token_version).await?;
            // The concert list shows promoters by nickname.
            views.catalog_changed().await;
            let mut after = user.snapshot();
            if let Some(fields) = after.as_object_mut() {
                // Never the password itself: only that it changed.
                fields.insert("passwordChanged".into(), password_changed.into());
            }
            let change = Change {
                action: "user.update",
                target_type: "user",
                target_id: Some(id),
                before: Some(before.snapshot()),
                after: Some(after),
            };
            audit.record(&caller, change).await;
            Ok(user)
        })
        .await
    }
}
