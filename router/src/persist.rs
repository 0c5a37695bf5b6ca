//! The router's copy of the last route table, `<state_dir>/routes.json`, so that a
//! router that starts while the controller is away serves what it served before.
//!
//! The file is the [`RouteTable`] as JSON, written whole to a temporary file, synced,
//! and renamed over the old one, so a crash leaves either the old table or the new one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use paas_core::routes::RouteTable;

/// The file name of the table in the state directory.
pub const ROUTES_FILE: &str = "routes.json";

const TEMP_FILE: &str = ".routes.json.tmp";

/// Why the table on disk could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The file system refused.
    #[error("cannot {action} {path}")]
    Io {
        /// What the router was doing.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not a route table.
    #[error("{path} is not a route table")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> PersistError {
    let path = path.to_owned();
    move |source| PersistError::Io { action, path, source }
}

/// Creates the state directory with mode 0700, or tightens an existing one.
pub fn ensure_state_dir(dir: &Path) -> Result<(), PersistError> {
    fs::create_dir_all(dir).map_err(io_error("create", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error("set the mode of", dir))
}

/// The table saved in `dir`, or `None` when there is none yet.
pub fn load(dir: &Path) -> Result<Option<RouteTable>, PersistError> {
    let path = dir.join(ROUTES_FILE);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read", &path)(e)),
    };
    serde_json::from_slice(&text).map(Some).map_err(|source| PersistError::Corrupt { path, source })
}

/// Saves `table` in `dir` atomically, with mode 0600.
pub fn save(dir: &Path, table: &RouteTable) -> Result<(), PersistError> {
    let temp = dir.join(TEMP_FILE);
    let path = dir.join(ROUTES_FILE);
    let json = serde_json::to_vec_pretty(table)
        .map_err(|source| PersistError::Corrupt { path: path.clone(), source })?;
    match fs::remove_file(&temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error("remove", &temp)(e)),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io_error("create", &temp))?;
    file.write_all(&json).map_err(io_error("write", &temp))?;
    file.sync_all().map_err(io_error("sync", &temp))?;
    drop(file);
    fs::rename(&temp, &path).map_err(io_error("rename into place", &path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error("sync", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paas_core::routes::{Backend, Route};
    use paas_core::{AppName, Hostname};

    #[test]
    fn saves_privately_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("router");
        ensure_state_dir(&state).unwrap();
        assert_eq!(fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(load(&state).unwrap(), None);
        let mut table = RouteTable { version: 4, ..RouteTable::default() };
        table.routes.insert(
            Hostname::parse("hello.localhost").unwrap(),
            Route {
                app: AppName::parse("hello").unwrap(),
                backends: vec![Backend { addr: "10.0.0.2:5000".parse().unwrap(), process: "web.1".into() }],
                tls: Default::default(),
            },
        );
        save(&state, &table).unwrap();
        assert_eq!(fs::metadata(state.join(ROUTES_FILE)).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load(&state).unwrap(), Some(table.clone()));
        table.version = 5;
        save(&state, &table).unwrap();
        assert_eq!(load(&state).unwrap(), Some(table));
        assert!(!state.join(TEMP_FILE).exists());
    }

    #[test]
    fn a_corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(ROUTES_FILE), "{\"version\": 3, \"routes\": ").unwrap();
        assert!(matches!(load(dir.path()), Err(PersistError::Corrupt { .. })));
    }
}
