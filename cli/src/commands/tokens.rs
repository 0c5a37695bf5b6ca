//! `tokens`, `tokens:create`, `tokens:revoke`: long-lived API tokens, e.g. for CI or
//! as a git password.

use paas_core::api::{Token, TokenCreate, TokenCreated};

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Step};
use crate::views;

/// `paas tokens`: never the secrets.
pub(super) fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let value = ctx.api()?.get("/tokens")?;
    ctx.show(value, |tokens: Vec<Token>| {
        if tokens.is_empty() {
            output::say("You have no API tokens; create one with paas tokens:create");
            return Ok(());
        }
        output::data(&views::tokens(&tokens))
    })
}

/// `paas tokens:create [--description D]`: the secret goes to stdout, once.
pub(super) fn create(ctx: &Ctx, description: String) -> anyhow::Result<()> {
    let api = ctx.api()?;
    let step = Step::start("Creating API token");
    let created: TokenCreated = api.post_as("/tokens", &TokenCreate { description })?;
    step.done(format!(", id {}", created.token.id));
    output::data_line(&created.secret)?;
    output::say("Copy the token now: it is not shown again.");
    Ok(())
}

/// `paas tokens:revoke ID`.
pub(super) fn revoke(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let id: i64 = id.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        // Not repeating the input: it might be a pasted secret.
        CliError::new("invalid token id: expected a number, not a token")
            .hint("run paas tokens to see the ids")
    })?;
    let api = ctx.api()?;
    let step = Step::start(format!("Revoking token {id}"));
    api.delete(&format!("/tokens/{id}"))?;
    step.done("");
    Ok(())
}
