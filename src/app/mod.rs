//! The one assembly point: how the shells are wired into the commands the
//! binary runs. `main.rs` parses the command line and calls one function
//! here; tests and benches run the binary, so they use the same wiring.
//!
//! # Layout
//! - [`service`]: `ccpulse run`: the Kafka pipeline beside the export tick
//!   and the HTTP server, until a shutdown future resolves.
//! - [`demo`]: `ccpulse demo`: an embedded broker, the simulator feeding
//!   it, and the service.
//! - [`simulate`]: `ccpulse simulate`: the simulator feeding a Kafka.
//! - [`replay`]: `ccpulse replay --serve`: fold files, then serve the final
//!   state.
//! - [`follow`]: `ccpulse follow-queue-log`: a live Asterisk queue_log,
//!   mapped and produced to the input topics.
//! - [`check`]: `ccpulse check-config`: a configuration or a mapping
//!   validated with every problem at once.
//!
//! Every task is spawned on a [`TaskTracker`] with a cancellation token and
//! awaited before a command returns; shutdown is a future passed in (a
//! signal in the binary), in the style of mini-redis.

pub mod bridge;
pub mod check;
pub mod checkpoint;
pub mod demo;
pub mod follow;
pub mod replay;
pub mod service;
pub mod simulate;

mod error;
mod lifecycle;

pub use demo::listen_address;
pub use error::AppError;
pub use lifecycle::{block_on, runtime, shutdown_signal};
pub use service::serve;
