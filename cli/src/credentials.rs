//! The credentials file: which API the CLI talks to, as whom, with which token.
//!
//! `credentials.json` lives in the config directory (see [`crate::settings`]). The
//! directory is created with mode 0700 and the file is written with mode 0600 from the
//! moment it exists: it is written to a temporary file in the same directory, opened
//! with that mode, and renamed over the old one, so a reader never sees half a file.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// The file's name inside the config directory.
pub const FILE_NAME: &str = "credentials.json";

/// What `paas login` stores.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCredentials {
    /// The API's base URL, without a trailing slash.
    pub api_url: String,
    /// Who logged in.
    pub username: String,
    /// The bearer token.
    pub token: String,
}

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("api_url", &self.api_url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Reads the credentials file; `None` when there is none.
pub fn load(path: &Path) -> anyhow::Result<Option<StoredCredentials>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    // Only the position is shown: the message of a type error could quote the file.
    let creds = serde_json::from_str(&text).map_err(|e| {
        CliError::new(format!(
            "{} is not a valid credentials file (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
        .hint("run paas logout, then paas login URL --username NAME")
    })?;
    Ok(Some(creds))
}

/// Writes the credentials file at `path`, creating its directory (mode 0700) first.
pub fn save(path: &Path, creds: &StoredCredentials) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut json = serde_json::to_vec_pretty(creds)?;
    json.push(b'\n');
    let tmp = temp_path(path);
    let written = write_new(&tmp, &json).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}

/// Removes the credentials file; `false` when there was none.
pub fn remove(path: &Path) -> anyhow::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name =
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| FILE_NAME.to_owned());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Creates `path` with mode 0600 (replacing a stale temporary file) and fills it.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let open = || OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    let mut file = match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(path)?;
            open()?
        }
        other => other?,
    };
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn creds() -> StoredCredentials {
        StoredCredentials {
            api_url: "http://127.0.0.1:7700".into(),
            username: "alice".into(),
            token: "eyJ.secret.token".into(),
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn saved_file_is_private_and_loads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("config").join("paas");
        let path = dir.join(FILE_NAME);
        assert_eq!(load(&path).unwrap(), None);

        save(&path, &creds()).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(load(&path).unwrap(), Some(creds()));

        // Nothing is left behind but the file itself.
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [FILE_NAME]);
    }

    #[test]
    fn overwriting_keeps_the_mode_even_over_a_loose_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(FILE_NAME);
        fs::write(&path, "{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let mut other = creds();
        other.username = "bob".into();
        save(&path, &other).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(load(&path).unwrap().unwrap().username, "bob");
    }

    #[test]
    fn a_stale_temporary_file_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(FILE_NAME);
        fs::write(temp_path(&path), "junk").unwrap();
        save(&path, &creds()).unwrap();
        assert_eq!(load(&path).unwrap(), Some(creds()));
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn remove_reports_whether_there_was_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(FILE_NAME);
        assert!(!remove(&path).unwrap());
        save(&path, &creds()).unwrap();
        assert!(remove(&path).unwrap());
        assert!(!path.exists());
    }

    #[test]
    fn a_broken_file_is_an_error_with_a_hint_and_no_contents() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(FILE_NAME);
        fs::write(&path, r#"{"api_url": "x", "token": "eyJ.secret"#).unwrap();
        let err = load(&path).unwrap_err();
        let err = err.downcast_ref::<CliError>().unwrap();
        assert!(err.hint.is_some());
        assert!(!err.message.contains("secret"), "{}", err.message);
    }

    #[test]
    fn debug_hides_the_token() {
        assert!(!format!("{:?}", creds()).contains("secret"));
    }
}
