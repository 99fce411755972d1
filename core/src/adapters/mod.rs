//! Adapters: pure translations of outside formats into ccpulse events.
//!
//! - `asterisk*`: Asterisk `queue_log` lines ([`asterisk::QueueLogMapper`]).

pub mod asterisk;
pub mod asterisk_error;
pub mod asterisk_line;
pub mod mapping;
pub mod mapping_error;
pub mod mapping_path;
pub mod mapping_spec;
