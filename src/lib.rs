//! ccpulse, the service: the shells around the pure core
//! ([`ccpulse_core`]: events and codecs, the fold, SLA building blocks).
//!
//! # Layout
//!
//! Data flows top to bottom:
//!
//! - [`sources`]: event files (and, later, outside formats) into events.
//! - [`pipeline`]: the Kafka shell: consumer group, one task per input
//!   partition folding its own engine, restore, effects and offsets out.
//! - [`telemetry`]: the meeting point of the shells: the metric catalogue,
//!   the typed telemetry events the pipeline emits, and the
//!   [`telemetry::Observer`] it reports partitions through.
//! - [`export`]: the HTTP shell: Prometheus metrics, JSON API, wallboard,
//!   probes. It implements the observer; it never imports the pipeline.
//! - [`sim`]: a simulated contact center (for `demo`, `simulate`, benches).
//! - [`replay`]: `ccpulse replay`: files in, snapshot and effects out.
//! - [`config`]: reads `ccpulse.toml` and composes the sections each module
//!   owns and validates.
//! - [`app`]: the one assembly point: the wiring of `run`, `demo`,
//!   `simulate` and `replay --serve`, and the runtime they share.
//!
//! `main.rs` only parses the command line and calls [`app`]; it is the only
//! place that uses `anyhow`.

pub mod app;
pub mod config;
pub mod export;
pub mod pipeline;
pub mod replay;
pub mod sim;
pub mod sources;
pub mod telemetry;
