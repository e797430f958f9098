//! Queue passes: what an admitted fan shows when booking while a room is on. A pass names
//! the concert, the fan and when it stops being valid, signed with HMAC-SHA-256 under a
//! key derived from the service's JWT secret (shared by every instance), so any instance
//! checks it without a look-up.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signs and checks passes.
#[derive(Clone)]
pub struct PassKey(Hmac<Sha256>);

impl PassKey {
    /// The pass key derived from the service's secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
        derive.update(b"tickitecking queue pass v1");
        let key = derive.finalize().into_bytes();
        Self(<Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key"))
    }

    fn signature(&self, claims: &str) -> Vec<u8> {
        let mut mac = self.0.clone();
        mac.update(claims.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A pass for `user_id` to book `concert_id` until `expires_at`.
    pub fn issue(&self, concert_id: i64, user_id: i64, expires_at: DateTime<Utc>) -> String {
        let claims = format!("{concert_id}.{user_id}.{}", expires_at.timestamp());
        let signature = URL_SAFE_NO_PAD.encode(self.signature(&claims));
        format!("qp1.{claims}.{signature}")
    }

    /// Whether `pass` lets `user_id` book `concert_id` at `now`.
    pub fn admits(&self, pass: &str, concert_id: i64, user_id: i64, now: DateTime<Utc>) -> bool {
        let Some(rest) = pass.trim().strip_prefix("qp1.") else { return false };
        let Some((claims, signature)) = rest.rsplit_once('.') else { return false };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        let mut mac = self.0.clone();
        mac.update(claims.as_bytes());
        if mac.verify_slice(&signature).is_err() {
            return false;
        }
        let mut parts = claims.split('.').map(str::parse::<i64>);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(concert)), Some(Ok(user)), Some(Ok(expires)), None) => {
                concert == concert_id && user == user_id && now.timestamp() < expires
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_admits_its_fan_to_its_concert_until_it_expires() {
        let key = PassKey::new(b"0123456789abcdef0123456789abcdef");
        let now = Utc::now();
        let pass = key.issue(7, 42, now + chrono::Duration::minutes(5));
        assert!(key.admits(&pass, 7, 42, now));
        assert!(!key.admits(&pass, 8, 42, now), "another concert");
        assert!(!key.admits(&pass, 7, 43, now), "another fan");
        assert!(!key.admits(&pass, 7, 42, now + chrono::Duration::minutes(6)), "expired");
        let other = PassKey::new(b"another secret of at least 32 bytes!");
        assert!(!other.admits(&pass, 7, 42, now), "another key");
        let forged = pass.replacen("qp1.7.42.", "qp1.7.43.", 1);
        assert!(!key.admits(&forged, 7, 43, now), "claims changed");
        assert!(!key.admits("", 7, 42, now));
        assert!(!key.admits("qp1.7.42", 7, 42, now));
    }
}
