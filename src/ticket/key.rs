//! The deployment's ticket-signing key: an Ed25519 key from `TICKET_SIGNING_KEY`, or
//! generated once into the data dir. Every instance of a deployment must sign with the
//! same key (scanners hold one public key per concert), as they share `JWT_SECRET`.

use std::fmt;
use std::path::Path;

use anyhow::anyhow;
use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::{SECRET_KEY_LENGTH, Signature, Signer, SigningKey, VerifyingKey};
use rand::RngCore;

/// The key's file in the data dir. It holds what `TICKET_SIGNING_KEY` takes (the seed in
/// base64url), so an instance's key can be handed to others as it is.
pub const KEY_FILE: &str = "ticket-signing.key";

/// Padding optional; stray bits after the last byte refused.
const LENIENT_PADDING: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT_PADDING);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT_PADDING);
const URL_SAFE_NO_PAD: GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The key that signs ticket codes. Its secret half is wiped from memory when dropped and
/// never printed.
pub struct TicketKey {
    signing: SigningKey,
}

impl TicketKey {
    /// A new random key (the seed from the operating system's generator).
    pub fn generate() -> Self {
        let mut seed = [0u8; SECRET_KEY_LENGTH];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Self { signing: SigningKey::from_bytes(&seed) }
    }

    /// The key `TICKET_SIGNING_KEY` names: its 32-byte seed in base64url without padding
    /// (43 characters), or in standard base64 as `openssl rand -base64 32` writes it.
    pub fn from_setting(text: &str) -> anyhow::Result<Self> {
        parse_seed(text).map_err(|e| anyhow!("TICKET_SIGNING_KEY {e}"))
    }

    /// The key kept in `<data_dir>/ticket-signing.key`, generated and written there (only
    /// its owner may read it) when there is none yet. Instances starting at once on one
    /// data dir all end up with the same key: the first one's. A file that is there but
    /// unreadable is an error, never replaced: the tickets signed with it would stop
    /// passing the door.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let text = crate::key_file::load_or_create(data_dir, KEY_FILE, || {
            format!("{}\n", URL_SAFE_NO_PAD.encode(Self::generate().signing.as_bytes()))
        })?;
        parse_seed(&text).map_err(|e| anyhow!("{}: the key {e}", data_dir.join(KEY_FILE).display()))
    }

    /// The public key scanners verify codes with.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key's 32 bytes in base64url without padding: what
    /// `GET /concerts/{id}/checkin/key` serves, and what WebCrypto imports as `"raw"`.
    pub fn public_key_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes())
    }

    pub(super) fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }
}

impl fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKey").field("public", &self.public_key_base64url()).finish_non_exhaustive()
    }
}

/// A seed in base64url or standard base64, padded or not; the error says what is wrong
/// without repeating the secret.
fn parse_seed(text: &str) -> Result<TicketKey, String> {
    let text = text.trim();
    let engine = if text.contains(['+', '/']) { &STANDARD } else { &URL_SAFE };
    let bytes = engine.decode(text).map_err(|_| "is not base64url (nor base64)".to_owned())?;
    let seed: [u8; SECRET_KEY_LENGTH] = bytes.as_slice().try_into().map_err(|_| {
        format!(
            "must be a {SECRET_KEY_LENGTH}-byte Ed25519 seed (43 characters of base64url), not {} bytes",
            bytes.len()
        )
    })?;
    Ok(TicketKey { signing: SigningKey::from_bytes(&seed) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_takes_the_seed_in_base64url_or_base64_padded_or_not() {
        let key = TicketKey::generate();
        let seed = key.signing.to_bytes();
        let general = base64::engine::general_purpose::STANDARD;
        // A seed whose base64 has `+` or `/`, so both alphabets are exercised.
        let spelled = [
            URL_SAFE_NO_PAD.encode(seed),
            base64::engine::general_purpose::URL_SAFE.encode(seed),
            general.encode(seed),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(seed),
            format!("  {}\n", URL_SAFE_NO_PAD.encode(seed)),
        ];
        for text in spelled {
            let parsed = TicketKey::from_setting(&text).expect(&text);
            assert_eq!(parsed.public_key_base64url(), key.public_key_base64url(), "{text:?}");
        }
        let tricky = [0xfb; SECRET_KEY_LENGTH];
        assert!(general.encode(tricky).contains(['+', '/']));
        let a = TicketKey::from_setting(&general.encode(tricky)).unwrap();
        let b = TicketKey::from_setting(&URL_SAFE_NO_PAD.encode(tricky)).unwrap();
        assert_eq!(a.public_key_base64url(), b.public_key_base64url());
    }

    #[test]
    fn the_setting_refuses_other_lengths_and_text_that_is_not_base64_without_repeating_it() {
        for (text, says) in [
            (URL_SAFE_NO_PAD.encode([7u8; 31]), "not 31 bytes"),
            (URL_SAFE_NO_PAD.encode([7u8; 64]), "not 64 bytes"),
            (String::new(), "not 0 bytes"),
            ("secret!secret!secret!secret!secret!secret!sec".to_owned(), "is not base64url"),
            (format!("{}-+", URL_SAFE_NO_PAD.encode([7u8; 32])), "is not base64url"),
        ] {
            let error = TicketKey::from_setting(&text).unwrap_err().to_string();
            assert!(error.starts_with("TICKET_SIGNING_KEY ") && error.contains(says), "{text:?}: {error}");
            assert!(text.is_empty() || !error.contains(&text), "{error}");
        }
    }

    #[test]
    fn the_public_key_is_its_32_raw_bytes_in_base64url() {
        let key = TicketKey::generate();
        let text = key.public_key_base64url();
        assert_eq!(text.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(&text).unwrap(), key.verifying_key().as_bytes());
        assert!(!format!("{key:?}").contains(&URL_SAFE_NO_PAD.encode(key.signing.as_bytes())));
    }

    #[test]
    fn the_key_file_is_created_once_private_and_read_back_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let first = TicketKey::load_or_create(&data_dir).unwrap();
        let path = data_dir.join(KEY_FILE);
        let written = std::fs::read_to_string(&path).unwrap();
        let again = TicketKey::load_or_create(&data_dir).unwrap();
        assert_eq!(again.public_key_base64url(), first.public_key_base64url());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), written, "the file is not rewritten");
        // The file is what TICKET_SIGNING_KEY takes, for handing the key to other instances.
        assert_eq!(
            TicketKey::from_setting(&written).unwrap().public_key_base64url(),
            first.public_key_base64url()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(&data_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [KEY_FILE], "no temporary file is left behind");
    }

    #[test]
    fn a_damaged_key_file_is_an_error_and_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, "half a key\n").unwrap();
        let error = TicketKey::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(error.contains(KEY_FILE) && error.contains("is not base64url"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "half a key\n");
    }

    #[test]
    fn instances_starting_at_once_on_one_data_dir_all_get_the_same_key() {
        const INSTANCES: usize = 8;
        for _ in 0..25 {
            let dir = tempfile::tempdir().unwrap();
            let start = std::sync::Barrier::new(INSTANCES);
            let keys: Vec<String> = std::thread::scope(|s| {
                let starts: Vec<_> = (0..INSTANCES)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            TicketKey::load_or_create(dir.path()).unwrap().public_key_base64url()
                        })
                    })
                    .collect();
                starts.into_iter().map(|t| t.join().unwrap()).collect()
            });
            let on_disk = TicketKey::load_or_create(dir.path()).unwrap().public_key_base64url();
            assert!(keys.iter().all(|k| *k == on_disk), "{keys:?} vs {on_disk}");
            let names = std::fs::read_dir(dir.path()).unwrap().count();
            assert_eq!(names, 1, "only the key file is left");
        }
    }
}
