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
//! - [`policy`]: which targets apply (per queue × channel × priority, most
//!   specific match), on which calendar, paused by which statuses, and what
//!   a breach triggers.
//! - [`picker`]: the free eligible operator a reassignment names.
//!
//! All pure (no clock, no I/O, no randomness, no global state), so they run
//! inside the engine's deterministic fold and a replay gives identical
//! results. The SLA clocks per interaction live in the engine
//! (`engine::sla`), fired by the watermark.

pub mod calendar;
pub mod picker;
pub mod policy;
pub mod wheel;
