//! `register`, `login`, `logout`, `whoami`: who the CLI talks to, and as whom.

use std::io::IsTerminal;

use paas_core::api::{Credentials, Session, User};
use paas_core::settings::PASSWORD;
use paas_core::{Password, Username};

use super::Ctx;
use crate::cli::SignIn;
use crate::client::{normalize_api_url, Api};
use crate::credentials::{self, StoredCredentials};
use crate::error::CliError;
use crate::output::{self, Step};
use crate::settings::Secret;

/// `paas register URL --username U`: creates the user. Signed out, the CLI then logs in
/// as them; signed in to the same API (an admin registering someone else), it keeps the
/// current session.
pub(super) fn register(ctx: &Ctx, args: &SignIn) -> anyhow::Result<()> {
    let url = normalize_api_url(&args.url)?;
    let username = Username::parse(&args.username)?;
    let password = Password::parse(password(ctx, true)?.expose())?;
    // Where only admins may register others, the stored token of an admin for the
    // same API is what allows it.
    let current = ctx.settings.credentials.as_ref().filter(|c| c.api_url == url);
    let api = match current {
        Some(admin) => Api::new(&url, Some(&admin.token))?.as_user(&admin.username),
        None => Api::new(&url, None)?,
    };
    let body = Credentials { username: username.to_string(), password: password.expose().to_owned() };
    let step = Step::start(format!("Registering {username} at {url}"));
    let _: User = api.post_as("/auth/register", &body)?;
    step.done("");
    match current {
        Some(me) => {
            output::say(format!(
                "{username} can now log in with `paas login {url} --username {username}`; you are still logged in as {}",
                me.username
            ));
            Ok(())
        }
        None => sign_in(ctx, &url, body),
    }
}

/// `paas login URL --username U`.
pub(super) fn login(ctx: &Ctx, args: &SignIn) -> anyhow::Result<()> {
    let url = normalize_api_url(&args.url)?;
    let username = Username::parse(&args.username)?;
    let password = password(ctx, false)?;
    let body = Credentials { username: username.to_string(), password: password.expose().to_owned() };
    sign_in(ctx, &url, body)
}

/// Logs in and stores the session's token.
fn sign_in(ctx: &Ctx, url: &str, body: Credentials) -> anyhow::Result<()> {
    let api = Api::new(url, None)?;
    let session: Session = api.post_as("/auth/login", &body)?;
    credentials::save(
        &ctx.settings.credentials_path,
        &StoredCredentials {
            api_url: url.to_owned(),
            username: session.user.username.clone(),
            token: session.token,
        },
    )?;
    output::say(format!("Logged in as {} at {url} (until {})", session.user.username, session.expires_at));
    Ok(())
}

/// The password: `--password`, else `PAAS_PASSWORD`, else a prompt on a terminal.
fn password(ctx: &Ctx, confirm: bool) -> anyhow::Result<Secret> {
    if let Some(password) = &ctx.settings.password {
        return Ok(password.clone());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new("no password given and no terminal to ask for one")
            .hint(format!("pass --password PASSWORD or set {}", PASSWORD.name))
            .into());
    }
    let first = rpassword::prompt_password("Password: ")?;
    if confirm {
        let again = rpassword::prompt_password("Password (again): ")?;
        if again != first {
            return Err(CliError::new("the passwords do not match").into());
        }
    }
    Ok(Secret::new(first))
}

/// `paas logout`: forgets the stored token.
pub(super) fn logout(ctx: &Ctx) -> anyhow::Result<()> {
    if credentials::remove(&ctx.settings.credentials_path)? {
        match &ctx.settings.credentials {
            Some(c) => output::say(format!("Logged out of {}", c.api_url)),
            None => output::say("Logged out"),
        }
    } else {
        output::say("Not logged in");
    }
    Ok(())
}

/// `paas whoami`.
pub(super) fn whoami(ctx: &Ctx) -> anyhow::Result<()> {
    let value = ctx.api()?.get("/auth/whoami")?;
    ctx.show(value, |user: User| output::data_line(user.username))
}
