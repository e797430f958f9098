//! Delivery without SMTP: each e-mail becomes one `.eml` file in the outbox folder.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use super::message::key_digest;

/// The file for an e-mail's key: a readable part (unsafe characters replaced) and the key's
/// digest, so two keys never share a file and one key always finds its own.
pub(crate) fn file_name(key: &str) -> String {
    let readable: String = key
        .chars()
        .take(80)
        .map(|c| if c.is_ascii_alphanumeric() || "@.-_+".contains(c) { c } else { '_' })
        .collect();
    // A leading dot would hide the file, and temporary files start with one.
    format!("{}-{}.eml", readable.trim_start_matches('.'), key_digest(key))
}

/// Writes `message` as `dir/name` unless that file exists: one e-mail, one file, however
/// often it is sent. The file appears whole or not at all (written aside, synced, renamed).
/// Returns whether it was written now.
pub(crate) fn write_once(dir: &Path, name: &str, message: &[u8]) -> io::Result<bool> {
    let path = dir.join(name);
    if path.exists() {
        return Ok(false);
    }
    fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()));
    let written = (|| {
        let mut file = File::create_new(&temporary)?;
        file.write_all(message)?;
        file.sync_all()?;
        fs::rename(&temporary, &path)?;
        // The rename itself survives a power cut only once the folder is synced.
        #[cfg(unix)]
        File::open(dir)?.sync_all()?;
        Ok(true)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_is_safe_and_tells_keys_apart() {
        let name = file_name("order-12-paid/fan@example.com");
        assert!(name.starts_with("order-12-paid_fan@example.com-") && name.ends_with(".eml"), "{name}");
        assert_ne!(file_name("a/b"), file_name("a_b"));
        assert_eq!(file_name("a/b"), file_name("a/b"));
        for key in ["../../etc/passwd", "..", "con", "a\0b", &"x".repeat(1000), "예매/fan@example.com"] {
            let name = file_name(key);
            assert!(!name.starts_with('.') && !name.contains('/') && !name.contains('\0'), "{name}");
            assert!(name.len() < 200, "{}", name.len());
        }
    }
}
