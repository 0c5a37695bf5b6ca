//! Key files in the data directory: made once with mode 0600, reused after.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rand::RngCore;

/// Creates `dir` (and parents) with mode 0700, or tightens an existing one.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// The secret in `path`, or 64 new random bytes written there with mode 0600. A file
/// that is there with looser permissions is tightened.
pub fn load_or_create_secret(path: &Path) -> io::Result<Vec<u8>> {
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            let mut secret = vec![0u8; 64];
            rand::thread_rng().fill_bytes(&mut secret);
            file.write_all(hex::encode(&secret).as_bytes())?;
            file.sync_all()?;
            Ok(secret)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let mut file = fs::File::open(path)?;
            if file.metadata()?.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
            }
            let mut text = String::new();
            file.read_to_string(&mut text)?;
            let secret = hex::decode(text.trim())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the key file is not hex"))?;
            if secret.len() < 32 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the key file holds fewer than 32 bytes",
                ));
            }
            Ok(secret)
        }
        Err(e) => Err(e),
    }
}

/// The platform id in `path`, or 8 new random hex digits written there. Not a secret: it
/// labels the platform's containers, so that platforms sharing a Docker engine leave
/// each other's alone.
pub fn load_or_create_platform_id(path: &Path) -> io::Result<String> {
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            let id = hex::encode(rand::random::<[u8; 4]>());
            file.write_all(id.as_bytes())?;
            file.sync_all()?;
            Ok(id)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let id = fs::read_to_string(path)?.trim().to_owned();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "the platform id is not hex"));
            }
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("paasd-secret-test-{}", std::process::id()));
        ensure_private_dir(&dir).unwrap();
        let path = dir.join("jwt.key");
        let first = load_or_create_secret(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load_or_create_secret(&path).unwrap(), first);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }
}
