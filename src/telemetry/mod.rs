//! The meeting point of the shells. The pipeline (Kafka) and export (HTTP,
//! Prometheus) never import each other; both import this.
//!
//! - [`catalog`]: every metric family: name, kind, labels and help. The
//!   only place a metric name is written.
//! - [`events`]: the typed telemetry events the shells emit. Each is a
//!   struct whose `emit()` writes the log line and the metric together, in
//!   one place (in the style of Vector's `internal_events`), so a counter
//!   and its log line cannot drift apart.
//! - [`observer`]: how the pipeline reports its partitions (status, views,
//!   live samples, lag) to whoever serves them; export implements it.

pub mod catalog;
pub mod events;
pub mod observer;

pub use events::InternalEvent;
pub use observer::{NoObserver, Observer, PartitionStatus, RestorePath, RestoreReport};
