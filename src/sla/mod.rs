//! Building blocks of the SLA engine: when SLA clocks run and when they run
//! out.
//!
//! - [`calendar`]: business calendars (time zone, weekly opening hours with
//!   split shifts, holidays, DST-correct): open time between two instants
//!   and the deadline after a given amount of open time.
//! - [`wheel`]: a hierarchical timer wheel that fires deadlines exactly, in
//!   a deterministic (deadline, schedule order) order, and checkpoints with
//!   serde.
//!
//! Both are pure (no clock, no I/O, no randomness, no global state), so they
//! can run inside the engine's deterministic fold and a replay gives
//! identical results. The SLA engine proper — policies (which clock, which
//! calendar, which target) and the picker that chooses whom to reassign a
//! breached request to — is not here yet; it will be added to this module
//! later and builds on these two.

pub mod calendar;
pub mod wheel;
