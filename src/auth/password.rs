//! Password hashing with Argon2id, off the async runtime.

use std::sync::OnceLock;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

/// Argon2id with its default parameters works through 19 MiB per hash. A login storm at
/// the start of an on-sale would otherwise run as many hashes at once as the blocking pool
/// has threads (512): gigabytes of memory, and every core busy hashing instead of booking.
/// Past one hash per core, callers queue here instead.
fn hashing_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)))
}

/// Runs one password hash or check on a blocking thread, at most one per core at a time.
async fn with_slot<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let _slot = hashing_slots().acquire().await.context("password hashing slots closed")?;
    tokio::task::spawn_blocking(work).await.context("password hashing task")
}

/// Hashes a password (Argon2id, default parameters, random salt) on a blocking thread.
pub async fn hash(password: String) -> anyhow::Result<String> {
    with_slot(move || hash_blocking(&password)).await?
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks a password against a stored hash on a blocking thread. With no hash (unknown
/// user) it checks against a dummy hash, so both cases take the same time.
pub async fn verify(password: String, hash: Option<String>) -> anyhow::Result<bool> {
    with_slot(move || {
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => dummy_hash()?.to_owned(),
        };
        let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(known && matches)
    })
    .await?
}

fn dummy_hash() -> anyhow::Result<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_blocking("not a real password: timing equaliser 1!")?;
    Ok(DUMMY.get_or_init(|| hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let hash = hash("Right#pass1".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify("Right#pass1".into(), Some(hash.clone())).await.unwrap());
        assert!(!verify("Wrong#pass1".into(), Some(hash)).await.unwrap());
        assert!(!verify("Right#pass1".into(), None).await.unwrap());
    }
}
