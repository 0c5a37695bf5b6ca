//! The support archive: everything a buildpack build needs in the build container
//! besides the app, as one tar archive extracted into `/tmp`, all under
//! [`SUPPORT_DIR`]: the buildpacks (`buildpacks/<name>/bin/{detect,compile,release}`,
//! owned by root, modes reduced to 0755 and 0644), the app's config vars as ENV_DIR
//! (`env/<KEY>`, one file each), an empty CACHE_DIR owned by the app user, and the CA
//! bundle (`ca.crt`), when there is one. The whole directory is deleted before the
//! container is committed.
//!
//! Everything here blocks; callers run it on `spawn_blocking`.

use std::path::{Path, PathBuf};

use paas_core::ConfigVars;

/// Where the support archive is extracted.
pub const SUPPORT_PARENT: &str = "/tmp";
/// The directory the archive makes in the build container.
pub const SUPPORT_DIR: &str = "/tmp/paas-build";
/// The app user's uid and gid in the stack image.
pub const APP_UID: u64 = 1000;

/// The scripts every buildpack has.
pub const SCRIPTS: [&str; 3] = ["detect", "compile", "release"];

/// Why the support archive cannot be made; the message is for the operator.
#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    /// A buildpack of the configured order is missing or incomplete.
    #[error("the buildpack `{name}` has no bin/{script} in {dir}")]
    Incomplete {
        /// The buildpack's name.
        name: String,
        /// The script it lacks.
        script: &'static str,
        /// The buildpacks' directory.
        dir: PathBuf,
    },
    /// A buildpack cannot be read.
    #[error("cannot read the buildpack `{name}` in {dir}: {source}")]
    Buildpack {
        /// The buildpack's name.
        name: String,
        /// The buildpacks' directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The CA bundle cannot be read.
    #[error("cannot read the CA bundle {path}: {source}")]
    CaBundle {
        /// Its path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing the archive failed.
    #[error("cannot make the support archive: {0}")]
    Archive(std::io::Error),
}

/// Makes the support archive of `order` (buildpack names, directories of `dir`),
/// `env` and `ca_bundle`.
pub fn make(
    dir: &Path,
    order: &[String],
    env: &ConfigVars,
    ca_bundle: Option<&Path>,
) -> Result<Vec<u8>, SupportError> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(true);
    directory(&mut tar, "paas-build/", 0)?;
    directory(&mut tar, "paas-build/buildpacks/", 0)?;
    for name in order {
        let source = dir.join(name);
        for script in SCRIPTS {
            if !source.join("bin").join(script).is_file() {
                return Err(SupportError::Incomplete { name: name.clone(), script, dir: dir.to_owned() });
            }
        }
        tar.append_dir_all(format!("paas-build/buildpacks/{name}"), &source)
            .map_err(|source| SupportError::Buildpack { name: name.clone(), dir: dir.to_owned(), source })?;
    }
    // Config vars are often secrets: readable by the app user only.
    directory(&mut tar, "paas-build/env/", APP_UID)?;
    for (key, value) in &env.0 {
        file(&mut tar, &format!("paas-build/env/{key}"), value.as_str().as_bytes(), 0o600, APP_UID)?;
    }
    directory(&mut tar, "paas-build/cache/", APP_UID)?;
    if let Some(path) = ca_bundle {
        let bundle =
            std::fs::read(path).map_err(|source| SupportError::CaBundle { path: path.to_owned(), source })?;
        file(&mut tar, "paas-build/ca.crt", &bundle, 0o644, 0)?;
    }
    tar.into_inner().map_err(SupportError::Archive)
}

fn header(kind: tar::EntryType, mode: u32, owner: u64, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(owner);
    header.set_gid(owner);
    header.set_mtime(tar::DETERMINISTIC_TIMESTAMP);
    header.set_size(size);
    header
}

fn directory(tar: &mut tar::Builder<Vec<u8>>, path: &str, owner: u64) -> Result<(), SupportError> {
    let mut header = header(tar::EntryType::Directory, 0o755, owner, 0);
    tar.append_data(&mut header, path, std::io::empty()).map_err(SupportError::Archive)
}

fn file(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    data: &[u8],
    mode: u32,
    owner: u64,
) -> Result<(), SupportError> {
    let mut header = header(tar::EntryType::Regular, mode, owner, data.len() as u64);
    tar.append_data(&mut header, path, data).map_err(SupportError::Archive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paas_core::{ConfigKey, ConfigValue};
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;

    fn buildpack(dir: &Path, name: &str, scripts: &[&str]) {
        let bin = dir.join(name).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for script in scripts {
            std::fs::write(bin.join(script), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(bin.join(script), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
    }

    #[test]
    fn the_archive_has_the_buildpacks_the_env_the_cache_and_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        buildpack(dir.path(), "one", &SCRIPTS);
        buildpack(dir.path(), "unused", &SCRIPTS);
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let env = ConfigVars(BTreeMap::from([(
            ConfigKey::parse("SECRET").unwrap(),
            ConfigValue::parse("hunter2").unwrap(),
        )]));
        let bytes = make(dir.path(), &["one".to_owned()], &env, Some(&ca)).unwrap();
        let mut seen = Vec::new();
        for entry in tar::Archive::new(&bytes[..]).entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header();
            let line = format!(
                "{} {:o} {}",
                entry.path().unwrap().display(),
                header.mode().unwrap(),
                header.uid().unwrap()
            );
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            seen.push(format!("{line} {text:?}"));
        }
        seen[4..7].sort();
        assert_eq!(
            seen,
            [
                "paas-build/ 755 0 \"\"",
                "paas-build/buildpacks/ 755 0 \"\"",
                "paas-build/buildpacks/one/ 755 0 \"\"",
                "paas-build/buildpacks/one/bin 755 0 \"\"",
                "paas-build/buildpacks/one/bin/compile 755 0 \"#!/bin/sh\\n\"",
                "paas-build/buildpacks/one/bin/detect 755 0 \"#!/bin/sh\\n\"",
                "paas-build/buildpacks/one/bin/release 755 0 \"#!/bin/sh\\n\"",
                "paas-build/env/ 755 1000 \"\"",
                "paas-build/env/SECRET 600 1000 \"hunter2\"",
                "paas-build/cache/ 755 1000 \"\"",
                "paas-build/ca.crt 644 0 \"-----BEGIN CERTIFICATE-----\\n\"",
            ]
        );
    }

    #[test]
    fn an_incomplete_buildpack_is_named() {
        let dir = tempfile::tempdir().unwrap();
        buildpack(dir.path(), "half", &["detect", "compile"]);
        let message =
            make(dir.path(), &["half".to_owned()], &ConfigVars::default(), None).unwrap_err().to_string();
        assert_eq!(message, format!("the buildpack `half` has no bin/release in {}", dir.path().display()));
        let message =
            make(dir.path(), &["gone".to_owned()], &ConfigVars::default(), None).unwrap_err().to_string();
        assert!(message.starts_with("the buildpack `gone` has no bin/detect"), "{message}");
    }
}
