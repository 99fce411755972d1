//! Where events come from besides Kafka: adapters that turn an outside
//! format into [`ccpulse_core::event::Event`]s.
//!
//! - [`file`]: event files (JSON Lines, length-delimited protobuf) for
//!   `ccpulse replay`.

pub mod file;
