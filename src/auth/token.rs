//! JSON Web Tokens: HS256 only, with `exp`, `iat` and `jti` always present.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::user::Role;

/// Which of the pair a token is; an access token cannot be used to refresh and vice versa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// The claims of both token kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string as JWT wants it.
    pub sub: String,
    pub role: Role,
    pub typ: TokenKind,
    pub jti: String,
    /// The login's token family (every rotation of one login shares it).
    pub fam: String,
    /// The user's token version when issued; a higher current version revokes it.
    pub ver: i64,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    /// The user id the token was issued to.
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }

    /// When the token stops being valid on its own.
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or_else(Utc::now)
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

/// Access tokens remembered as verified, at most; past that the memory starts afresh.
/// 57,344 is seven eighths of 65,536: the most a hash table of 65,536 buckets holds before
/// it doubles, so the cache never takes more than those buckets (under 6 MiB), and never
/// holds the old table and the new one at once while growing past them.
const MAX_VERIFIED: usize = 57_344;

/// Signing and verification keys with the algorithm pinned to HS256.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Access tokens whose signature was checked, by their exact text: a fan sends the
    /// same token with every request of an on-sale, and checking an HMAC and decoding its
    /// claims costs more than the look-up. Keys never change while the process runs, so
    /// the same text verifies the same way; expiry is checked again on every use, and
    /// revocation is checked by the caller every time, cached or not.
    verified: Mutex<HashMap<[u8; 16], Verified>>,
}

/// An access token's claims as the cache keeps them: about a hundred bytes, not the few
/// hundred of the token's text and its claims' strings (an on-sale of 100,000 fans keeps
/// tens of thousands). Tokens whose ids are not UUIDs are not kept.
#[derive(Debug, Clone, Copy)]
struct Verified {
    user_id: i64,
    role: Role,
    jti: uuid::Uuid,
    fam: uuid::Uuid,
    ver: i64,
    iat: i64,
    exp: i64,
}

impl Verified {
    fn of(claims: &Claims) -> Option<Self> {
        Some(Self {
            user_id: claims.sub.parse().ok().filter(|id: &i64| id.to_string() == claims.sub)?,
            role: claims.role,
            jti: uuid::Uuid::parse_str(&claims.jti).ok().filter(|u| u.to_string() == claims.jti)?,
            fam: uuid::Uuid::parse_str(&claims.fam).ok().filter(|u| u.to_string() == claims.fam)?,
            ver: claims.ver,
            iat: claims.iat,
            exp: claims.exp,
        })
    }

    fn claims(&self) -> Claims {
        Claims {
            sub: self.user_id.to_string(),
            role: self.role,
            typ: TokenKind::Access,
            jti: self.jti.to_string(),
            fam: self.fam.to_string(),
            ver: self.ver,
            iat: self.iat,
            exp: self.exp,
        }
    }
}

/// The cache's key of a token: the first 128 bits of the SHA-256 of its text. Finding
/// another text with the same key as a token that was verified is a second preimage of
/// 128 bits (2^128 tries); half the digest halves the key's share of a cache entry.
fn cache_key(token: &str) -> [u8; 16] {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(token.as_bytes());
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

impl TokenKeys {
    /// Keys from a shared secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "jti"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Signs claims into a compact token.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)?)
    }

    /// [`Self::verify`] for an access token, remembering the tokens it has verified.
    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        let now = Utc::now().timestamp();
        let key = cache_key(token);
        if let Ok(verified) = self.verified.lock()
            && let Some(claims) = verified.get(&key)
            && claims.exp >= now
        {
            return Ok(claims.claims());
        }
        let claims = self.verify(token, TokenKind::Access)?;
        if let Some(compact) = Verified::of(&claims)
            && let Ok(mut verified) = self.verified.lock()
        {
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
            verified.insert(key, compact);
        }
        Ok(claims)
    }

    /// Verifies signature, algorithm, expiry and kind.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            }
        })?;
        if data.claims.typ != kind {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }
}

/// Claims for a new token of `kind` valid for `ttl` from now.
pub fn claims(
    user_id: i64,
    role: Role,
    version: i64,
    kind: TokenKind,
    family: &str,
    ttl: Duration,
) -> Claims {
    let now = Utc::now().timestamp();
    Claims {
        sub: user_id.to_string(),
        role,
        typ: kind,
        jti: uuid::Uuid::new_v4().to_string(),
        fam: family.to_owned(),
        ver: version,
        iat: now,
        exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn a_signed_token_verifies_with_its_kind_only() {
        let c = claims(7, Role::User, 0, TokenKind::Access, "fam", Duration::from_secs(60));
        let token = keys().sign(&c).unwrap();
        assert_eq!(keys().verify(&token, TokenKind::Access).unwrap(), c);
        assert_eq!(keys().verify(&token, TokenKind::Refresh), Err(TokenError::Invalid));
    }

    #[test]
    fn remembered_access_tokens_still_expire_and_others_still_fail() {
        let keys = keys();
        let c = claims(7, Role::User, 0, TokenKind::Access, "fam", Duration::from_secs(60));
        let token = keys.sign(&c).unwrap();
        assert_eq!(keys.verify_access(&token).unwrap(), c);
        assert_eq!(keys.verify_access(&token).unwrap(), c, "answered from memory the same");
        // A refresh token is not an access token, remembered or not.
        let refresh =
            keys.sign(&claims(7, Role::User, 0, TokenKind::Refresh, "fam", Duration::from_secs(60)));
        assert_eq!(keys.verify_access(&refresh.unwrap()), Err(TokenError::Invalid));
        // A remembered token whose time is up is checked again, and refused.
        let family = uuid::Uuid::new_v4().to_string();
        let mut expired = claims(7, Role::User, 0, TokenKind::Access, &family, Duration::from_secs(60));
        expired.exp = Utc::now().timestamp() - 5;
        let expired_token = keys.sign(&expired).unwrap();
        let remembered = Verified::of(&expired).expect("UUID ids are remembered");
        keys.verified.lock().unwrap().insert(cache_key(&expired_token), remembered);
        assert_eq!(keys.verify_access(&expired_token), Err(TokenError::Expired));
        // One changed character of the signature is another text: verified afresh, and
        // refused (a character inside the signature carries six bits of it).
        let mut tampered = token.clone().into_bytes();
        let at = tampered.len() - 10;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(keys.verify_access(&tampered), Err(TokenError::Invalid));
    }

    #[test]
    fn another_secret_or_a_changed_payload_is_rejected() {
        let c = claims(7, Role::User, 0, TokenKind::Access, "fam", Duration::from_secs(60));
        let token = keys().sign(&c).unwrap();
        let other = TokenKeys::new(b"another secret entirely, 32 bytes");
        assert_eq!(other.verify(&token, TokenKind::Access), Err(TokenError::Invalid));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].replace('A', "B");
        assert!(keys().verify(&parts.join("."), TokenKind::Access).is_err());
    }

    #[test]
    fn the_none_algorithm_is_rejected() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let c = claims(1, Role::Admin, 0, TokenKind::Access, "f", Duration::from_secs(60));
        let token = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(serde_json::to_vec(&c).unwrap())
        );
        assert_eq!(keys().verify(&token, TokenKind::Access), Err(TokenError::Invalid));
    }

    #[test]
    fn an_expired_token_says_so() {
        let mut c = claims(7, Role::User, 0, TokenKind::Access, "fam", Duration::from_secs(60));
        c.exp = c.iat - 1;
        let token = keys().sign(&c).unwrap();
        assert_eq!(keys().verify(&token, TokenKind::Access), Err(TokenError::Expired));
    }
}
