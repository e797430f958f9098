//! Password hashing with Argon2id, off the async runtime.

use std::sync::{Arc, Mutex, OnceLock, mpsc};

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::oneshot;

/// Argon2id with its default parameters works through 19 MiB per hash. Run on the
/// runtime's blocking pool, a login storm at the start of an on-sale would hash on as many
/// threads at once as that pool has (512): gigabytes of memory, every core hashing instead
/// of booking, and each thread's allocator keeping its 19 MiB afterwards. So hashing has
/// threads of its own, one per core: callers queue, and the memory stays one block each.
struct Hashers {
    queue: Mutex<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

fn hashers() -> anyhow::Result<&'static Hashers> {
    static HASHERS: OnceLock<Hashers> = OnceLock::new();
    if let Some(hashers) = HASHERS.get() {
        return Ok(hashers);
    }
    let (queue, jobs) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
    let jobs = Arc::new(Mutex::new(jobs));
    for i in 0..std::thread::available_parallelism().map_or(2, usize::from) {
        let jobs = jobs.clone();
        std::thread::Builder::new()
            .name(format!("password-hasher-{i}"))
            .spawn(move || {
                loop {
                    // The lock is held only while taking the next job, not while running it.
                    let job = match jobs.lock() {
                        Ok(jobs) => jobs.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })
            .context("starting a password hashing thread")?;
    }
    Ok(HASHERS.get_or_init(|| Hashers { queue: Mutex::new(queue) }))
}

/// Runs one password hash or check on a hashing thread.
async fn with_slot<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let (answer, answered) = oneshot::channel();
    let job: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _ = answer.send(work());
    });
    hashers()?
        .queue
        .lock()
        .map_err(|_| anyhow::anyhow!("password hashing queue poisoned"))?
        .send(job)
        .map_err(|_| anyhow::anyhow!("password hashing threads stopped"))?;
    answered.await.context("password hashing task")
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
