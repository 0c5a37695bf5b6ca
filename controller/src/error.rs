//! The one error type at the edge of the API, mapped to HTTP once.
//!
//! Handlers and the logic below them return [`ApiError`]. Its message is for the user
//! and never holds a secret; an internal error's cause chain goes to the log, not to
//! the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use paas_core::api::ErrorBody;
use paas_core::{ErrorChain, ParseError};

/// What kind of failure, which decides the status code and the `error` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 404: no such thing, or the caller may not know it exists.
    NotFound,
    /// 409: a thing with that name exists.
    AlreadyExists,
    /// 400: the request is malformed or a value is invalid.
    InvalidRequest,
    /// 401: no credentials, or ones that do not prove who the caller is.
    Unauthenticated,
    /// 403: the caller is known and may not do this.
    Forbidden,
    /// 409: the request conflicts with the current state.
    Conflict,
    /// 413: the body is larger than allowed.
    PayloadTooLarge,
    /// 503: a dependency is not available.
    Unavailable,
    /// 500: a bug or an unexpected failure; details are in the log.
    Internal,
}

impl ErrorKind {
    fn code(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::InvalidRequest => "invalid_request",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::AlreadyExists | Self::Conflict => StatusCode::CONFLICT,
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error an API call ends with.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// For the user; never a secret.
    pub message: String,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// The cause, logged for internal errors.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The result of API logic.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), hint: None, source: None }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// 409 for a name that is taken.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, message)
    }

    /// 400.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// 401.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// 409 for a state conflict.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// 500, keeping the cause for the log.
    pub fn internal(context: &str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            kind: ErrorKind::Internal,
            message: format!("internal error while {context}"),
            hint: None,
            source: Some(Box::new(source)),
        }
    }
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        Self::invalid(e.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Self {
                kind: ErrorKind::Unavailable,
                message: "the database is not available".into(),
                hint: Some("try again in a moment".into()),
                source: Some(Box::new(e)),
            },
            _ => Self::internal("talking to the database", e),
        }
    }
}

/// Whether a database error is a violated unique constraint.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind.status()
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(source) = &self.source {
            let cause = ErrorChain(source.as_ref());
            tracing::error!(kind = self.kind.code(), message = %self.message, %cause, "request failed");
        }
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: self.kind.code().to_owned(),
            message: self.message.clone(),
            hint: self.hint.clone(),
        })
    }
}
