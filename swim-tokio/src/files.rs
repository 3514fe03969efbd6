//! Files the agent replaces whole (the keyring, the compacted snapshot):
//! written privately under a fresh name, then renamed into place.
//!
//! The temporary file gets a name no one else has used (`.NAME.PID.RANDOM.tmp`
//! beside the target), and is opened with `O_CREAT | O_EXCL | O_NOFOLLOW`:
//! a file or symlink planted at that name makes the open fail instead of
//! being followed or reused. Its mode is set to 0600 on the descriptor
//! (whatever the umask or a leftover said), its bytes are fsynced, it is
//! renamed over the target and the directory is fsynced, so a crash leaves
//! either the old file or the new one, never half of one.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Attempts at a fresh temporary name before giving up.
const ATTEMPTS: u32 = 16;

/// Creates a fresh private temporary file beside `path`: the file and its name.
pub(crate) fn create_tmp(path: &Path) -> io::Result<(File, PathBuf)> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("the path names no file"))?;
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let tag = getrandom::u64().unwrap_or_else(|_| {
            // Uniqueness, not secrecy: O_EXCL makes a clash fail safely.
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{tag:016x}.tmp", std::process::id()));
        let tmp = match dir {
            Some(d) => d.join(&tmp_name),
            None => PathBuf::from(&tmp_name),
        };
        match open_new_private(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no fresh temporary name")))
}

#[cfg(unix)]
fn open_new_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    // The mode on the descriptor itself, whatever the umask did.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

#[cfg(not(unix))]
fn open_new_private(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Renames the fsynced temporary file `tmp` over `path`, then fsyncs the
/// directory so the rename survives a crash. `tmp` is removed on failure.
pub(crate) fn commit(tmp: &Path, path: &Path) -> io::Result<()> {
    if let Err(e) = std::fs::rename(tmp, path) {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    // Not every platform can open a directory; where it can, fsync it.
    if let Ok(d) = File::open(dir.unwrap_or(Path::new("."))) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Replaces `path` with `bytes`, privately and atomically (see the module docs).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (mut f, tmp) = create_tmp(path)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    commit(&tmp, path)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("swim-files-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The old way wrote through `PATH.tmp`: a symlink there sent the
    /// bytes to its target, a leftover 0644 file kept its mode.
    #[test]
    fn planted_tmp_files_and_symlinks_are_neither_followed_nor_reused() {
        let d = dir("plant");
        let path = d.join("keyring");
        let victim = d.join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("keyring.tmp")).unwrap();
        std::fs::write(d.join("keyring.compact"), "leftover").unwrap();
        std::fs::set_permissions(
            d.join("keyring.compact"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"secret").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") && n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_temporary_file_is_private_whatever_the_umask() {
        let d = dir("mode");
        let (f, tmp) = create_tmp(&d.join("x")).unwrap();
        let mode = f.metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        // A name already taken is never opened again.
        assert!(open_new_private(&tmp).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
