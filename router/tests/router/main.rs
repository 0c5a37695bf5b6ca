//! Router tests: the real router on a free port of 127.0.0.1, in front of real HTTP
//! backends, fed by a real HTTP route stream. What they check is what a client of an
//! app, or the controller, would see.

mod certs_feed;
mod defences;
mod feed;
mod helpers;
mod lifecycle;
mod metrics;
mod proxy;
mod slow;
mod tls;
mod websocket;
