//! The builder driven by the real `git` CLI over 127.0.0.1: what a user sees when they
//! push.

mod build;
mod buildpack;
mod helpers;
mod push;
