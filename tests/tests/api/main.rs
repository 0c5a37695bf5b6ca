//! API tests: every endpoint against the real controller (paasd in-process) and a real
//! database, as users and as intruders.

mod apps;
mod auth;
mod bad_input;
mod builds_logs;
mod certs;
mod concurrency;
mod config_releases;
mod domains_formation;
mod events;
mod registration;
mod routing;
mod users_tokens;
