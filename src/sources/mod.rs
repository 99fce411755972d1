//! Where events come from besides Kafka: adapters that turn an outside
//! format into [`ccpulse_core::event::Event`]s.
//!
//! - [`file`]: event files (JSON Lines, length-delimited protobuf) for
//!   `ccpulse replay`.
//! - [`asterisk`]: Asterisk `queue_log` files, line by line, for the core's
//!   mapper (`replay --input-format asterisk-queue-log`).
//! - [`follow`]: following a live queue_log like `tail -F` (rotation,
//!   truncation), resumable from a state file.

pub mod asterisk;
pub mod file;
pub mod follow;
pub mod mapped;
