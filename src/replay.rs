//! `ccpulse replay` (placeholder).
