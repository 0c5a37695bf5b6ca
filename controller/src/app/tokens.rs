//! API tokens: made for the caller, shown once, stored hashed.

use paas_core::api::{Token, TokenCreate, TokenCreated};

use super::timestamp;
use crate::auth::{self, Caller};
use crate::db::{self, tokens::TokenRow};
use crate::error::{ApiError, ApiResult};
use crate::State;

fn token_view(row: &TokenRow) -> Token {
    Token {
        id: row.id,
        description: row.description.clone(),
        prefix: row.prefix.clone(),
        created_at: timestamp(row.created_at),
    }
}

/// The caller's tokens.
pub async fn list(state: &State, caller: &Caller) -> ApiResult<Vec<Token>> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::tokens::token_list_for_user(&mut conn, caller.id).await?.iter().map(token_view).collect())
}

/// Makes a token for the caller.
pub async fn create(state: &State, caller: &Caller, request: TokenCreate) -> ApiResult<TokenCreated> {
    let description = request.description.trim();
    if description.chars().count() > 100 || description.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "a token description is at most 100 characters, without control characters",
        ));
    }
    let (secret, prefix, hash) = auth::new_api_token();
    let mut tx = state.db.begin_write().await?;
    let row = db::tokens::token_insert(&mut tx, caller.id, description, &prefix, &hash).await?;
    db::events::event_insert(
        &mut tx,
        &caller.username,
        "token.create",
        None,
        &format!("{prefix}... {description}"),
    )
    .await?;
    tx.commit().await?;
    Ok(TokenCreated { token: token_view(&row), secret })
}

/// Revokes one of the caller's tokens.
pub async fn revoke(state: &State, caller: &Caller, id: i64) -> ApiResult<()> {
    let mut tx = state.db.begin_write().await?;
    if !db::tokens::token_delete(&mut tx, caller.id, id).await? {
        return Err(ApiError::not_found(format!("token {id} not found")).with_hint("see `paas tokens`"));
    }
    db::events::event_insert(&mut tx, &caller.username, "token.revoke", None, &id.to_string()).await?;
    tx.commit().await?;
    Ok(())
}
