//! The router's errors at its edge, and how a cause chain is written to the log.

use std::io;
use std::path::PathBuf;

/// Why the router could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The state directory cannot be made or used.
    #[error("cannot prepare the state directory {path}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: crate::persist::PersistError,
    },
    /// The listener has no local address (it is not bound).
    #[error("the HTTP listener has no local address")]
    ListenerAddress(#[source] io::Error),
    /// The metrics listener cannot be bound.
    #[error("cannot listen on {addr} for metrics")]
    MetricsListener {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The certificates cannot be loaded or the default one made.
    #[error("cannot load the TLS certificates")]
    Certificates(#[source] crate::certs::CertError),
    /// rustls refused the TLS configuration.
    #[error("cannot configure TLS")]
    Tls(#[source] rustls::Error),
}

pub use paas_core::ErrorChain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains() {
        let e = RouterError::ListenerAddress(io::Error::new(io::ErrorKind::NotConnected, "not bound"));
        assert_eq!(ErrorChain(&e).to_string(), "the HTTP listener has no local address: not bound");
    }
}
