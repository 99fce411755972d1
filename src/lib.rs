//! ccpulse: live contact-center KPIs, SLA timers and reassignments, folded
//! from an event log.
//!
//! # Layout
//!
//! Data flows top to bottom; each module owns one stage:
//!
//! - [`event`]: the domain input events and output effects, and their wire
//!   codecs (protobuf and proto3 JSON, validated). *decode*
//! - [`engine`]: the pure, deterministic fold. Events and a watermark in,
//!   state, a [`engine::Snapshot`] and effects out. No clock, no I/O. *engine*
//! - [`sla`]: business calendars and the timer wheel the engine's SLA clocks
//!   run on (pure as well).
//! - [`config`]: the TOML configuration, parsed then validated.
//! - [`replay`]: the `ccpulse replay` shell: files in, snapshot and effects
//!   out. *effects/export*
//! - [`export`]: the metric catalogue, Prometheus publishing (counter
//!   deltas per partition, gauges from the merged view) and the HTTP server
//!   (`/metrics`, probes, JSON API). *export*
//!
//! `main.rs` is the CLI edge; it is the only place that uses `anyhow`.

pub mod config;
pub mod engine;
pub mod event;
pub mod export;
pub mod pipeline;
pub mod replay;
pub mod sim;
pub mod sla;
