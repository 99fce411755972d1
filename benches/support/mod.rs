//! Support for `benches/pipeline.rs`: the service as a child process, the
//! other readers it is compared with, the latency probe through the HTTP
//! API, and the process figures (CPU time, load) they are measured by.

pub mod http;
pub mod latency;
pub mod proc;
pub mod runs;
pub mod service;
