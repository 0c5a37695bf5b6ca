//! Domain types and pure logic of paas.
//!
//! Everything here is parsed, not validated: a value of [`AppName`], [`ConfigKey`],
//! [`Hostname`] or [`Procfile`] is known to be well formed wherever it travels. The
//! crate does no I/O and depends on no runtime, database or Docker crate, so nothing in
//! it can fail with an I/O error.

pub mod access;
pub mod api;
pub mod config;
pub mod error_chain;
pub mod formation;
pub mod hostname;
pub mod limits;
pub mod names;
pub mod parse;
pub mod pktline;
pub mod procfile;
pub mod registration;
pub mod release;
pub mod routes;
pub mod run_stream;
pub mod settings;

pub use config::{ConfigKey, ConfigValue, ConfigVars};
pub use error_chain::ErrorChain;
pub use formation::{Formation, Quantity};
pub use hostname::Hostname;
pub use limits::{CpuLimit, MemoryLimit};
pub use names::{AppName, Password, ProcessType, Username};
pub use parse::ParseError;
pub use procfile::{Procfile, ProcfileError};
pub use registration::RegistrationMode;
pub use release::ReleaseVersion;
