//! The builder's errors at its edge, and how a cause chain is written to the log.

use std::fmt;
use std::io;

/// Why the builder could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    /// The listener has no local address (it is not bound).
    #[error("the HTTP listener has no local address")]
    ListenerAddress(#[source] io::Error),
}

/// Writes an error and all its causes, `outer: inner: innermost`, for logs.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}
