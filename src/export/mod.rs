//! Export: the metric catalogue (and, as it lands, the exporter and the
//! HTTP server).

pub mod catalog;
