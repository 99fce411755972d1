//! The export layer's error type.

use std::io;
use std::net::SocketAddr;

/// Errors of the export layer.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("a metrics recorder is already installed in this process")]
    RecorderInstalled,
    #[error("cannot listen on {addr}: {source} (fix: pick a free port in http.listen or --serve, or stop what uses it)")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("http server failed: {0}")]
    Serve(io::Error),
}
