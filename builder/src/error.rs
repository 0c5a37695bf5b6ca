//! The builder's errors at its edge, and how a cause chain is written to the log.

use std::io;

/// Why the builder could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    /// The listener has no local address (it is not bound).
    #[error("the HTTP listener has no local address")]
    ListenerAddress(#[source] io::Error),
}

pub use paas_core::ErrorChain;
