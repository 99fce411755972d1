//! Support for the service's integration tests: the core's scenario
//! builders, Kafka harnesses and convergence checks.
#![allow(dead_code)]

pub mod broker;
pub mod converge;
pub mod kafka;
pub mod scratch;
pub mod stream;

#[allow(unused_imports)]
pub use ccpulse_core::testkit::*;
