//! SLA building blocks (placeholder until the SLA parts land).
