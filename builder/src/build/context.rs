//! The build context of a pushed commit: its tree streamed with git2 straight into a tar
//! archive in an anonymous temporary file, with no checkout directory. Trees the
//! platform will not build are refused, naming the path: a `.git` entry at any depth, a
//! symbolic link whose target is absolute or leaves the tree, and a submodule (gitlink).
//!
//! Everything here blocks; callers run it on `spawn_blocking`.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use git2::{FileMode, ObjectType, Oid, Repository, Tree};

/// What the build needs to know of a commit's tree, and its tar archive.
#[derive(Debug)]
pub struct Context {
    /// The tree as an uncompressed tar archive, rewound to its start.
    pub tar: File,
    /// The archive's size in bytes.
    pub tar_len: u64,
    /// Whether the root has a `Dockerfile`.
    pub has_dockerfile: bool,
    /// The root `Procfile`'s bytes, when there is one.
    pub procfile: Option<Vec<u8>>,
}

/// Why a commit cannot become a build context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A `.git` file or directory is in the tree.
    #[error("`{path}`: a `.git` entry cannot be deployed; remove it from the repository")]
    DotGit {
        /// Its path in the tree.
        path: String,
    },
    /// A symbolic link points outside the tree.
    #[error("`{path}`: the symbolic link to `{target}` leaves the repository; only relative links inside it are allowed")]
    EscapingSymlink {
        /// The link's path in the tree.
        path: String,
        /// Where it points.
        target: String,
    },
    /// A submodule.
    #[error("`{path}`: submodules are not supported; vendor the code instead")]
    Submodule {
        /// Its path in the tree.
        path: String,
    },
    /// git2 or the temporary file failed.
    #[error("cannot read the pushed commit: {0}")]
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> ContextError {
    ContextError::Internal(e.to_string())
}

/// Makes the build context of `commit` in the bare repository at `repo_path`.
pub fn make(repo_path: &Path, commit: Oid) -> Result<Context, ContextError> {
    let repo = Repository::open_bare(repo_path).map_err(internal)?;
    let commit = repo.find_commit(commit).map_err(internal)?;
    let tree = commit.tree().map_err(internal)?;
    let mtime = u64::try_from(commit.time().seconds()).unwrap_or(0);

    let file = tempfile::tempfile().map_err(internal)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    tar.mode(tar::HeaderMode::Deterministic);
    add_tree(&repo, &tree, "", 0, mtime, &mut tar)?;
    let mut file = tar.into_inner().map_err(internal)?.into_inner().map_err(|e| internal(e.error()))?;
    let tar_len = file.seek(SeekFrom::End(0)).map_err(internal)?;
    file.seek(SeekFrom::Start(0)).map_err(internal)?;

    let has_dockerfile = tree.get_name("Dockerfile").is_some();
    let procfile = match tree.get_name("Procfile") {
        Some(entry) if entry.kind() == Some(ObjectType::Blob) => {
            Some(repo.find_blob(entry.id()).map_err(internal)?.content().to_vec())
        }
        _ => None,
    };
    Ok(Context { tar: file, tar_len, has_dockerfile, procfile })
}

/// Appends the entries of `tree` (at `prefix`, `depth` directories below the root).
fn add_tree<W: std::io::Write>(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &str,
    depth: usize,
    mtime: u64,
    tar: &mut tar::Builder<W>,
) -> Result<(), ContextError> {
    for entry in tree.iter() {
        let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
        let path = format!("{prefix}{name}");
        if name.eq_ignore_ascii_case(".git") {
            return Err(ContextError::DotGit { path });
        }
        let mode = entry.filemode();
        let mut header = tar::Header::new_gnu();
        header.set_mtime(mtime);
        if mode == i32::from(FileMode::Tree) {
            let sub = repo.find_tree(entry.id()).map_err(internal)?;
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            tar.append_data(&mut header, format!("{path}/"), std::io::empty()).map_err(internal)?;
            add_tree(repo, &sub, &format!("{path}/"), depth + 1, mtime, tar)?;
        } else if mode == i32::from(FileMode::Commit) {
            return Err(ContextError::Submodule { path });
        } else if mode == i32::from(FileMode::Link) {
            let blob = repo.find_blob(entry.id()).map_err(internal)?;
            let target = String::from_utf8_lossy(blob.content()).into_owned();
            if leaves_tree(&target, depth) {
                return Err(ContextError::EscapingSymlink { path, target });
            }
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            tar.append_link(&mut header, &path, &target).map_err(internal)?;
        } else {
            let blob = repo.find_blob(entry.id()).map_err(internal)?;
            let executable = mode == i32::from(FileMode::BlobExecutable);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if executable { 0o755 } else { 0o644 });
            header.set_size(blob.content().len() as u64);
            tar.append_data(&mut header, &path, blob.content()).map_err(internal)?;
        }
    }
    Ok(())
}

/// Whether a link `depth` directories below the root pointing at `target` is absolute
/// or climbs above the root at any point.
fn leaves_tree(target: &str, depth: usize) -> bool {
    if target.starts_with('/') || target.is_empty() {
        return true;
    }
    let mut level = depth;
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => match level.checked_sub(1) {
                Some(up) => level = up,
                None => return true,
            },
            _ => level += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    enum Node {
        File(&'static str),
        Exec(&'static str),
        Link(&'static str),
        Dir(Vec<(&'static str, Node)>),
        Gitlink,
    }

    /// Writes a tree object by hand, so names git2's tree builder refuses (`.git`) can
    /// be made, as a hostile pack could.
    fn write_tree(repo: &Repository, entries: Vec<(&'static str, Node)>) -> Oid {
        let mut rows: Vec<(String, &str, Oid)> = entries
            .into_iter()
            .map(|(name, node)| match node {
                Node::File(text) => (name.to_owned(), "100644", repo.blob(text.as_bytes()).unwrap()),
                Node::Exec(text) => (name.to_owned(), "100755", repo.blob(text.as_bytes()).unwrap()),
                Node::Link(target) => (name.to_owned(), "120000", repo.blob(target.as_bytes()).unwrap()),
                Node::Gitlink => (name.to_owned(), "160000", Oid::from_str(&"ab".repeat(20)).unwrap()),
                Node::Dir(children) => (name.to_owned(), "40000", write_tree(repo, children)),
            })
            .collect();
        rows.sort_by_key(|(name, mode, _)| if *mode == "40000" { format!("{name}/") } else { name.clone() });
        let mut raw = Vec::new();
        for (name, mode, oid) in rows {
            raw.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            raw.extend_from_slice(oid.as_bytes());
        }
        repo.odb().unwrap().write(ObjectType::Tree, &raw).unwrap()
    }

    fn commit(entries: Vec<(&'static str, Node)>) -> (tempfile::TempDir, Oid) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let tree = write_tree(&repo, entries);
        let tree = repo.find_tree(tree).unwrap();
        let sig = git2::Signature::now("Dev", "dev@example.com").unwrap();
        let oid = repo.commit(None, &sig, &sig, "test", &tree, &[]).unwrap();
        (dir, oid)
    }

    fn refusal(entries: Vec<(&'static str, Node)>) -> String {
        let (dir, oid) = commit(entries);
        make(dir.path(), oid).unwrap_err().to_string()
    }

    #[test]
    fn a_tree_becomes_a_tar_with_modes_links_and_the_root_files() {
        let (dir, oid) = commit(vec![
            ("Dockerfile", Node::File("FROM scratch\n")),
            ("Procfile", Node::File("web: ./run\n")),
            ("run", Node::Exec("#!/bin/sh\n")),
            ("src", Node::Dir(vec![("app.py", Node::File("print(1)\n")), ("up", Node::Link("../run"))])),
        ]);
        let mut context = make(dir.path(), oid).unwrap();
        assert!(context.has_dockerfile);
        assert_eq!(context.procfile.as_deref(), Some(&b"web: ./run\n"[..]));
        let mut archive = tar::Archive::new(&mut context.tar);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mode = entry.header().mode().unwrap();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            seen.push(format!("{path} {mode:o} {link:?} {text:?}"));
        }
        assert_eq!(
            seen,
            [
                "Dockerfile 644 None \"FROM scratch\\n\"",
                "Procfile 644 None \"web: ./run\\n\"",
                "run 755 None \"#!/bin/sh\\n\"",
                "src/ 755 None \"\"",
                "src/app.py 644 None \"print(1)\\n\"",
                "src/up 777 Some(\"../run\") \"\"",
            ]
        );
    }

    #[test]
    fn dot_git_entries_are_refused_at_any_depth() {
        let message = refusal(vec![(".git", Node::File("gitdir: /etc\n"))]);
        assert!(message.starts_with("`.git`: a `.git` entry"), "{message}");
        let message = refusal(vec![(
            "a",
            Node::Dir(vec![("b", Node::Dir(vec![(".GIT", Node::Dir(vec![("HEAD", Node::File("x"))]))]))]),
        )]);
        assert!(message.starts_with("`a/b/.GIT`: a `.git` entry"), "{message}");
    }

    #[test]
    fn absolute_and_escaping_symlinks_are_refused() {
        let message = refusal(vec![("passwd", Node::Link("/etc/passwd"))]);
        assert!(message.starts_with("`passwd`: the symbolic link to `/etc/passwd` leaves"), "{message}");
        let message = refusal(vec![("d", Node::Dir(vec![("up", Node::Link("../../x"))]))]);
        assert!(message.starts_with("`d/up`: the symbolic link to `../../x` leaves"), "{message}");
        let message = refusal(vec![("sneaky", Node::Link("a/../../x"))]);
        assert!(message.contains("`sneaky`"), "{message}");
    }

    #[test]
    fn submodules_are_refused() {
        let message = refusal(vec![("vendor", Node::Dir(vec![("lib", Node::Gitlink)]))]);
        assert!(message.starts_with("`vendor/lib`: submodules are not supported"), "{message}");
    }

    #[test]
    fn links_inside_the_tree_are_fine() {
        assert!(!leaves_tree("a/b/../c", 0));
        assert!(!leaves_tree("../x", 1));
        assert!(!leaves_tree("./x/./y/../..", 0));
        assert!(leaves_tree("..", 0));
        assert!(leaves_tree("x/../../y", 0));
        assert!(leaves_tree("/", 3));
        assert!(leaves_tree("", 0));
    }
}
