//! The agent's keyring file: the cluster keys it seals traffic with,
//! read at start and written back whenever a key operation changes them,
//! so that a restarted agent comes back with the current keys.
//!
//! One key per line, base64 of 32 random bytes (`swim keygen` prints one);
//! the first line is the primary key. Blank lines and lines starting with
//! `#` are ignored. The file is written with mode 0600 (set on the
//! descriptor), through a fresh temporary file opened with `O_EXCL` and
//! `O_NOFOLLOW`, fsynced and renamed into place (see `files.rs`), so a
//! crash never leaves half a keyring and a planted file or symlink is never
//! followed. A keyring file that group or others may read or write is
//! refused when loaded, with the `chmod` that fixes it.

use base64::Engine as _;
use std::path::{Path, PathBuf};
use swim_core::SecretKey;

/// A keyring file that cannot be read, parsed or written.
#[derive(Debug, thiserror::Error)]
#[error("keyring file {}: {message}", path.display())]
pub struct KeyringError {
    /// The file.
    pub path: PathBuf,
    /// What was wrong.
    pub message: String,
}

/// One key as written in a keyring file or given to `swim keys`: base64 of
/// 32 bytes. The error says what is allowed.
pub fn parse_key(text: &str) -> Result<SecretKey, String> {
    let text = text.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| {
            format!("not base64 ({e}); a key is base64 of 32 random bytes, as `swim keygen` prints")
        })?;
    SecretKey::from_slice(&bytes).ok_or_else(|| {
        format!(
            "{} bytes; a key is 32 bytes (AES-256), as `swim keygen` prints",
            bytes.len()
        )
    })
}

/// A key as a keyring file holds it.
pub fn format_key(key: &SecretKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

/// A new random key from the operating system's generator.
pub fn generate() -> std::io::Result<SecretKey> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| {
        use std::io::Read as _;
        f.read_exact(&mut bytes)
    })?;
    Ok(SecretKey::new(bytes))
}

/// Parses a keyring file's text: its keys, primary first.
pub fn parse(text: &str, path: &Path) -> Result<Vec<SecretKey>, KeyringError> {
    let mut keys: Vec<SecretKey> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = parse_key(line).map_err(|e| KeyringError {
            path: path.to_path_buf(),
            message: format!("line {}: {e}", n + 1),
        })?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err(KeyringError {
            path: path.to_path_buf(),
            message: "no key in it; put one base64 key per line (`swim keygen` prints one)".into(),
        });
    }
    Ok(keys)
}

/// Reads a keyring file; refused if group or others may read or write it.
pub fn load(path: &Path) -> Result<Vec<SecretKey>, KeyringError> {
    use std::io::Read as _;
    let fail = |message: String| KeyringError {
        path: path.to_path_buf(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // The mode of the file opened, not of whatever the path names later.
        let mode = file
            .metadata()
            .map_err(|e| fail(format!("cannot read it: {e}")))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "group or others may read or write it (mode {:03o}), and it holds the cluster's \
                 keys; make it private with `chmod 600 {}`",
                mode & 0o777,
                path.display()
            )));
        }
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    parse(&text, path)
}

/// Writes `keys` (primary first) to `path`, replacing it whole.
pub fn save<'a>(
    path: &Path,
    keys: impl Iterator<Item = &'a SecretKey>,
) -> Result<(), KeyringError> {
    let fail = |e: std::io::Error| KeyringError {
        path: path.to_path_buf(),
        message: format!("cannot write it: {e}"),
    };
    let mut text = String::from("# swim keyring: the first key is primary\n");
    for k in keys {
        text.push_str(&format_key(k));
        text.push('\n');
    }
    crate::files::write_private(path, text.as_bytes()).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyring_file_round_trips_and_errors_name_the_line() {
        let dir = std::env::temp_dir().join(format!("swim-keyring-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keyring");
        let keys = [SecretKey::new([1; 32]), SecretKey::new([2; 32])];
        save(&path, keys.iter()).unwrap();
        assert_eq!(load(&path).unwrap(), keys);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let e = parse("# c\n\nnot-base64!\n", &path).unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let short = base64::engine::general_purpose::STANDARD.encode([0u8; 16]);
        let e = parse(&short, &path).unwrap_err();
        assert!(e.to_string().contains("16 bytes"), "{e}");
        assert!(parse("\n# only a comment\n", &path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A keyring others can read used to be loaded without a word.
    #[cfg(unix)]
    #[test]
    fn a_keyring_others_can_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("swim-keyring-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keyring");
        save(&path, [SecretKey::new([1; 32])].iter()).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = load(&path).unwrap_err().to_string();
            assert!(
                e.contains(&format!("chmod 600 {}", path.display()))
                    && e.contains(&format!("{mode:03o}")),
                "{e}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(load(&path).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
