//! The pure core of ccpulse: what the service computes, with no I/O.
//!
//! # Layout
//!
//! Data flows top to bottom; each module owns one stage:
//!
//! - [`settings`]: the shared settings vocabulary (durations with units,
//!   problems with field and fix). A leaf.
//! - [`event`]: the domain input events and output effects, their wire
//!   codecs (protobuf and proto3 JSON, validated) and the framing of event
//!   files. *decode*
//! - [`sla`]: business calendars, the timer wheel, policy selection and the
//!   operator picker the engine's SLA clocks are built from.
//! - [`engine`]: the deterministic fold. Events and a watermark in; state, a
//!   [`engine::View`], a [`engine::Snapshot`] and effects out. *engine*
//! - `testkit` (feature `testkit`): scenario builders for tests.
//!
//! # Purity
//! Nothing here reads a clock, the environment, a file or the network,
//! spawns a thread, or keeps global state: the same input gives the same
//! state and effects, byte for byte. The compiler keeps it so:
//! `core/clippy.toml` forbids the std calls that would break it, and
//! `tests/architecture.rs` fails if a runtime, I/O or metrics crate becomes
//! a dependency of this crate.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod adapters;
pub mod engine;
pub mod event;
pub mod settings;
pub mod sla;

#[cfg(feature = "testkit")]
pub mod testkit;
