//! The registry proxy's errors at its edge, and how a cause chain is written to logs.

pub use paas_core::ErrorChain;
