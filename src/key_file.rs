//! A key generated once into the data dir (the JWT secret, the ticket signing key): read
//! when it is there, else written whole under a name of its own, only its owner may read
//! it, and linked into place. A link never replaces a file: when instances starting at once
//! on one data dir race, one link wins and every instance reads the winner's key (a rename
//! would replace the file, and the first instance would go on with a key no longer on
//! disk). Nobody ever sees the file half written.

use std::io::ErrorKind;
use std::path::Path;

use anyhow::Context;

/// The text of `<data_dir>/<name>`: as it is, or `make()`'s when there was no such file.
pub fn load_or_create(data_dir: &Path, name: &str, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    let path = data_dir.join(name);
    if let Some(text) = read(&path)? {
        return Ok(text);
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let text = make();
    let temp = data_dir.join(format!(".{name}.{:016x}", rand::random::<u64>()));
    write_private(&temp, text.as_bytes())?;
    let linked = std::fs::hard_link(&temp, &path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            sync_dir(data_dir)?;
            Ok(text)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            read(&path)?.with_context(|| format!("{} vanished while being read", path.display()))
        }
        Err(e) => Err(e).with_context(|| {
            format!("linking {} (the data dir's file system must allow hard links)", path.display())
        }),
    }
}

/// The file's text, or `None` when there is no such file.
fn read(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a new file only its owner can read, through to the disk.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Makes a new name in `dir` survive a crash.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
