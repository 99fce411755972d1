//! Opening event files: the layout picked from the extension, records read
//! by the core's framing ([`ccpulse_core::event::file`]).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use ccpulse_core::event::codec::Limits;
use ccpulse_core::event::file::{EventReader, FileError, FileFormat};

/// The reader [`open`] returns.
pub type FileReader = EventReader<BufReader<File>>;

/// Opens an event file with [`Limits::default`], the layout picked from its
/// extension.
pub fn open(path: impl AsRef<Path>) -> Result<FileReader, FileError> {
    open_with(path, Limits::default())
}

/// [`open`] with explicit limits.
pub fn open_with(path: impl AsRef<Path>, limits: Limits) -> Result<FileReader, FileError> {
    let path = path.as_ref();
    let format = FileFormat::from_path(path).ok_or_else(|| FileError::UnknownFormat {
        path: path.to_owned(),
    })?;
    let file = File::open(path).map_err(|source| FileError::Open {
        path: path.to_owned(),
        source,
    })?;
    Ok(EventReader::new(
        BufReader::with_capacity(64 * 1024, file),
        format,
        limits,
    ))
}
