//! The bare repository of each app under `<data_dir>/repos/<app>.git`, and the git2
//! work done on it: listing refs, indexing a pushed pack, and moving a ref by
//! compare-and-swap. Everything here blocks; callers run it on `spawn_blocking`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::{ErrorCode, Oid, Repository};
use paas_core::AppName;
use tokio::sync::mpsc;

/// Where the apps' repositories live.
#[derive(Debug)]
pub struct Repos {
    root: PathBuf,
    // Serialises `init_bare`, so two first pushes do not initialise one directory at once.
    init: Mutex<()>,
}

/// A git2 failure, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action}")]
pub struct RepoError {
    /// What was being done.
    pub action: String,
    /// The libgit2 error.
    #[source]
    pub source: git2::Error,
}

fn context(action: impl Into<String>) -> impl FnOnce(git2::Error) -> RepoError {
    let action = action.into();
    move |source| RepoError { action, source }
}

impl Repos {
    /// Repositories under `root` (made on first push).
    pub fn new(root: PathBuf) -> Self {
        Self { root, init: Mutex::new(()) }
    }

    /// The bare repository of `app`.
    pub fn path(&self, app: &AppName) -> PathBuf {
        self.root.join(format!("{}.git", app.as_str()))
    }

    /// The repository of `app`, made if it does not exist yet.
    pub fn open_or_init(&self, app: &AppName) -> Result<Repository, RepoError> {
        let path = self.path(app);
        let _guard = self.init.lock().unwrap_or_else(|e| e.into_inner());
        if path.join("HEAD").exists() {
            return Repository::open_bare(&path).map_err(context(format!("open {}", path.display())));
        }
        std::fs::create_dir_all(&self.root).map_err(|e| RepoError {
            action: format!("create {}", self.root.display()),
            source: git2::Error::from_str(&e.to_string()),
        })?;
        let repo = Repository::init_bare(&path).map_err(context(format!("create {}", path.display())))?;
        repo.set_head("refs/heads/main").map_err(context("point HEAD at main"))?;
        Ok(repo)
    }

    /// The refs of `app` (none when it has no repository yet), sorted by name.
    pub fn refs(&self, app: &AppName) -> Result<Vec<(Oid, String)>, RepoError> {
        let path = self.path(app);
        if !path.join("HEAD").exists() {
            return Ok(Vec::new());
        }
        let repo = Repository::open_bare(&path).map_err(context(format!("open {}", path.display())))?;
        let mut refs = Vec::new();
        for r in repo.references().map_err(context("list refs"))? {
            let r = r.map_err(context("read a ref"))?;
            if let (Some(name), Some(oid)) = (r.name(), r.target()) {
                if name.starts_with("refs/") {
                    refs.push((oid, name.to_owned()));
                }
            }
        }
        refs.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(refs)
    }
}

/// Why a pack could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// Not a pack, truncated, or failed to index.
    #[error("the pack is unusable: {0}")]
    Pack(String),
    /// The repository could not be opened.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Indexes the pack arriving on `chunks` into `repo_path`'s object database. An empty
/// body or a pack of zero objects (a push of commits the repository has) stores nothing.
pub fn write_pack(repo_path: &Path, mut chunks: mpsc::Receiver<bytes::Bytes>) -> Result<(), UnpackError> {
    let repo = Repository::open_bare(repo_path).map_err(context(format!("open {}", repo_path.display())))?;
    let odb = repo.odb().map_err(context("open the object database"))?;
    let mut header = Vec::with_capacity(12);
    let mut writer = None;
    let pack_err = |e: &dyn std::fmt::Display| UnpackError::Pack(e.to_string());
    while let Some(chunk) = chunks.blocking_recv() {
        let Some(writer) = writer.as_mut() else {
            header.extend_from_slice(&chunk);
            if header.len() < 12 {
                continue;
            }
            if &header[..4] != b"PACK" {
                return Err(UnpackError::Pack("it does not start with PACK".into()));
            }
            if header[8..12] == [0, 0, 0, 0] {
                // Nothing to store; the trailing checksum is all that follows.
                while chunks.blocking_recv().is_some() {}
                return Ok(());
            }
            let mut w = odb.packwriter().map_err(|e| pack_err(&e))?;
            w.write_all(&header).map_err(|e| pack_err(&e))?;
            writer = Some(w);
            continue;
        };
        writer.write_all(&chunk).map_err(|e| pack_err(&e))?;
    }
    match writer {
        Some(mut w) => w.commit().map(|_| ()).map_err(|e| pack_err(&e)),
        None if header.is_empty() => Ok(()),
        None => Err(UnpackError::Pack("it ends before its header".into())),
    }
}

/// How a compare-and-swap of a ref ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Swap {
    /// The ref now points at the new id.
    Done,
    /// The ref was not at the expected id (another push moved it).
    Moved,
}

/// Sets `name` to `new` only if it is `old` now (zero `old`: only if it does not exist;
/// zero `new`: delete it). libgit2 takes the ref's lock file, so this is atomic
/// against other pushes in this process and in others.
pub fn swap_ref(repo: &Repository, name: &str, old: Oid, new: Oid, why: &str) -> Result<Swap, RepoError> {
    let result = if new.is_zero() {
        match repo.find_reference(name) {
            Ok(mut r) if r.target() == Some(old) => r.delete().map(|()| Swap::Done),
            Ok(_) => Ok(Swap::Moved),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(Swap::Moved),
            Err(e) => Err(e),
        }
    } else if old.is_zero() {
        repo.reference(name, new, false, why).map(|_| Swap::Done)
    } else {
        repo.reference_matching(name, new, true, old, why).map(|_| Swap::Done)
    };
    match result {
        Err(e) if matches!(e.code(), ErrorCode::Exists | ErrorCode::Modified | ErrorCode::Locked) => {
            Ok(Swap::Moved)
        }
        Err(e) if e.code() == ErrorCode::NotFound && !old.is_zero() => Ok(Swap::Moved),
        other => other.map_err(context(format!("update {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(repo: &Repository, message: &str) -> Oid {
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        repo.commit(None, &sig, &sig, message, &tree, &[]).unwrap()
    }

    #[test]
    fn swaps_refs_only_from_the_expected_value() {
        let dir = tempfile::tempdir().unwrap();
        let repos = Repos::new(dir.path().to_owned());
        let app = AppName::parse("hello").unwrap();
        let repo = repos.open_or_init(&app).unwrap();
        let (a, b, c) = (commit(&repo, "a"), commit(&repo, "b"), commit(&repo, "c"));
        let main = "refs/heads/main";
        assert_eq!(swap_ref(&repo, main, Oid::zero(), a, "t").unwrap(), Swap::Done);
        assert_eq!(swap_ref(&repo, main, Oid::zero(), b, "t").unwrap(), Swap::Moved);
        assert_eq!(swap_ref(&repo, main, b, c, "t").unwrap(), Swap::Moved);
        assert_eq!(swap_ref(&repo, main, a, b, "t").unwrap(), Swap::Done);
        assert_eq!(repos.refs(&app).unwrap(), vec![(b, main.to_owned())]);
        assert_eq!(swap_ref(&repo, main, a, Oid::zero(), "t").unwrap(), Swap::Moved);
        assert_eq!(swap_ref(&repo, main, b, Oid::zero(), "t").unwrap(), Swap::Done);
        assert_eq!(swap_ref(&repo, "refs/heads/gone", a, b, "t").unwrap(), Swap::Moved);
        assert!(repos.refs(&app).unwrap().is_empty());
    }

    #[test]
    fn an_app_without_a_repository_has_no_refs() {
        let dir = tempfile::tempdir().unwrap();
        let repos = Repos::new(dir.path().join("repos"));
        assert!(repos.refs(&AppName::parse("hello").unwrap()).unwrap().is_empty());
    }
}
