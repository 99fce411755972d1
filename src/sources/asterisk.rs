//! Asterisk `queue_log` files: opening one and reading its lines with
//! their numbers and byte offsets, for the core's mapper
//! ([`ccpulse_core::adapters::asterisk::QueueLogMapper`]). Used by
//! `ccpulse replay --input-format asterisk-queue-log` (whole files) and by
//! the follower ([`super::follow`]), which reads only complete lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Longest line read; longer lines are cut (and then fail to map with
/// their line number, never silently).
pub const MAX_LINE: usize = 64 * 1024;

/// Why a queue_log file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum QueueLogFileError {
    #[error("{}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: read error at line {line}: {source}", path.display())]
    Read {
        path: PathBuf,
        line: u64,
        #[source]
        source: io::Error,
    },
}

/// One line: its 1-based number, its bytes (without the line ending) and
/// the byte offset just after it (where reading resumes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    pub number: u64,
    pub bytes: Vec<u8>,
    pub end_offset: u64,
}

/// Reads the lines of a queue_log from any buffered reader.
pub struct LineReader<R> {
    reader: R,
    path: PathBuf,
    number: u64,
    offset: u64,
    /// Only return lines ended by a newline (a follower must not map a
    /// line Asterisk is still writing); a whole-file replay takes the
    /// last line as it is.
    complete_only: bool,
}

impl<R: BufRead> LineReader<R> {
    /// Reading starts at line `number + 1`, byte `offset`.
    pub fn new(reader: R, path: &Path, number: u64, offset: u64, complete_only: bool) -> Self {
        LineReader {
            reader,
            path: path.to_owned(),
            number,
            offset,
            complete_only,
        }
    }

    /// Lines read so far and the offset after the last one.
    pub fn position(&self) -> (u64, u64) {
        (self.number, self.offset)
    }

    /// The next line, `None` at the end (or before an unfinished last line
    /// when `complete_only`: its bytes are left for the next call, which
    /// must come from a reader positioned at [`LineReader::position`]).
    pub fn next_line(&mut self) -> Result<Option<RawLine>, QueueLogFileError> {
        let mut buf = Vec::new();
        let mut taken = 0u64;
        let mut ended = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(QueueLogFileError::Read {
                        path: self.path.clone(),
                        line: self.number + 1,
                        source,
                    })
                }
            };
            if available.is_empty() {
                break;
            }
            let (chunk, used, end) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            let room = MAX_LINE.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            taken += used as u64;
            self.reader.consume(used);
            if end {
                ended = true;
                break;
            }
        }
        if taken == 0 || (self.complete_only && !ended) {
            return Ok(None);
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        self.number += 1;
        self.offset += taken;
        Ok(Some(RawLine {
            number: self.number,
            bytes: buf,
            end_offset: self.offset,
        }))
    }
}

/// Opens a queue_log for a whole-file read from its start.
pub fn open(path: &Path) -> Result<LineReader<BufReader<File>>, QueueLogFileError> {
    let file = File::open(path).map_err(|source| QueueLogFileError::Open {
        path: path.to_owned(),
        source,
    })?;
    Ok(LineReader::new(
        BufReader::with_capacity(64 * 1024, file),
        path,
        0,
        0,
        false,
    ))
}
