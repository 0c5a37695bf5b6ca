//! The app named by the `paas` git remote of the current checkout.
//!
//! `git remote add paas http://git.example.com/hello.git` ties a checkout to the app
//! `hello`; app-scoped commands use it when neither `-a` nor `PAAS_APP` names an app.
//! The remote URL may carry a token as its password, so it is never printed.

use std::process::{Command, Stdio};

use paas_core::AppName;

/// The name of the git remote the CLI looks for.
pub const REMOTE: &str = "paas";

/// What the `paas` remote says about the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteApp {
    /// There is no `paas` remote (or no git, or no checkout).
    Missing,
    /// There is one, but its URL does not end in `/<app>.git`.
    Unrecognised,
    /// The app it names.
    Found(AppName),
}

/// Runs `git remote get-url paas` in the current directory.
pub fn lookup() -> RemoteApp {
    let output = Command::new("git")
        .args(["remote", "get-url", REMOTE])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let url = String::from_utf8_lossy(&out.stdout);
            match app_from_url(url.trim()) {
                Some(app) => RemoteApp::Found(app),
                None => RemoteApp::Unrecognised,
            }
        }
        _ => RemoteApp::Missing,
    }
}

/// The app of a git remote URL: the last path segment without `.git`, as in
/// `http(s)://host[:port]/[prefix/]app.git`, with or without a trailing slash. SSH-style
/// `user@host:app.git` works too. `None` when that segment is not an app name.
pub fn app_from_url(url: &str) -> Option<AppName> {
    let url = url.trim();
    let rest = match url.split_once("://") {
        // Drop the authority: what follows the scheme up to the first '/'.
        Some((_, rest)) => rest.split_once('/')?.1,
        // scp-like syntax: `[user@]host:path`.
        None => url.split_once(':')?.1,
    };
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    let name = last.strip_suffix(".git").unwrap_or(last);
    AppName::parse(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn app(url: &str) -> Option<String> {
        app_from_url(url).map(|a| a.to_string())
    }

    #[test]
    fn http_urls() {
        for url in [
            "http://git.localhost/hello.git",
            "https://git.example.com/hello.git",
            "http://127.0.0.1:7701/hello.git",
            "http://127.0.0.1:7701/hello.git/",
            "https://git.example.com:8443/hello.git/",
            "http://alice:paas_secret@git.localhost/hello.git",
            "http://localhost:7700/git/hello.git",
            "  http://git.localhost/hello.git\n",
            "http://git.localhost/hello",
            "ssh://git@git.localhost/hello.git",
            "git@git.localhost:hello.git",
        ] {
            assert_eq!(app(url).as_deref(), Some("hello"), "{url}");
        }
    }

    #[test]
    fn urls_without_an_app() {
        for url in [
            "",
            "hello.git",
            "http://git.localhost",
            "http://git.localhost/",
            "http://git.localhost/.git",
            "http://git.localhost/Hello.git",
            "http://git.localhost/paas.git",
            "http://git.localhost/my_app.git",
            "/srv/repos/hello.git",
        ] {
            assert_eq!(app(url), None, "{url}");
        }
    }

    proptest! {
        #[test]
        fn any_app_name_round_trips(
            name in "[a-z][a-z0-9-]{0,28}[a-z0-9]",
            port in proptest::option::of(1u16..),
            slash in any::<bool>(),
            https in any::<bool>(),
        ) {
            prop_assume!(AppName::parse(&name).is_ok());
            let url = format!(
                "{}://git.example.com{}/{name}.git{}",
                if https { "https" } else { "http" },
                port.map(|p| format!(":{p}")).unwrap_or_default(),
                if slash { "/" } else { "" },
            );
            prop_assert_eq!(app(&url), Some(name));
        }
    }
}
