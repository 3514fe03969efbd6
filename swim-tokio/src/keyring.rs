//! The agent's keyring file: the cluster keys it seals traffic with,
//! read at start and written back whenever a key operation changes them,
//! so that a restarted agent comes back with the current keys.
//!
//! One key per line, base64 of 32 random bytes (`swim keygen` prints one);
//! the first line is the primary key. Blank lines and lines starting with
//! `#` are ignored. The file is written with mode 0600, through a temporary
//! file renamed into place, so a crash never leaves half a keyring.

use base64::Engine as _;
use std::io::Write as _;
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

/// Reads a keyring file.
pub fn load(path: &Path) -> Result<Vec<SecretKey>, KeyringError> {
    let text = std::fs::read_to_string(path).map_err(|e| KeyringError {
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    })?;
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
    let tmp = path.with_extension("tmp");
    let mut f = open_private(&tmp).map_err(fail)?;
    f.write_all(text.as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
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
}
