//! The framing of event files: reading records from any buffered reader,
//! and writing them (for tests and tools). Opening a file is the shell's
//! job (the service's `sources::file`); this module only sees bytes.
//!
//! Two layouts, picked by extension:
//! - JSON Lines (`.jsonl`, `.ndjson`): one proto3 JSON envelope per line;
//!   blank lines and lines starting with `#` are skipped.
//! - Length-delimited protobuf (`.pb`, `.bin`): each envelope preceded by its
//!   length as a varint (prost's `encode_length_delimited`).
//!
//! Reading is streaming and buffered, so files of any length work in bounded
//! memory. A record that fails to decode is yielded with its position and the
//! caller decides (report and continue, usually); only I/O errors and broken
//! framing, after which no further record can be located, end the iteration.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::iter::FusedIterator;
use std::path::{Path, PathBuf};

use prost::Message as _;

use super::codec::{self, wire, DecodeError, Format, Limits};
use super::{Event, Millis};

/// The default longest record; the reader applies
/// [`Limits::max_record_bytes`], as the Kafka path does.
pub use super::codec::MAX_RECORD_LEN;

/// Layout of an event file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// JSON Lines of proto3 JSON envelopes.
    JsonLines,
    /// Varint-length-delimited binary protobuf envelopes.
    Delimited,
}

impl FileFormat {
    /// The layout implied by the path's extension, if known.
    pub fn from_path(path: &Path) -> Option<FileFormat> {
        match path.extension()?.to_str()? {
            "jsonl" | "ndjson" => Some(FileFormat::JsonLines),
            "pb" | "bin" => Some(FileFormat::Delimited),
            _ => None,
        }
    }

    /// The codec format of each record.
    pub fn record_format(self) -> Format {
        match self {
            FileFormat::JsonLines => Format::Json,
            FileFormat::Delimited => Format::Protobuf,
        }
    }
}

/// Where a record starts in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Position {
    /// 1-based line number (JSON Lines).
    Line(u64),
    /// 0-based byte offset of the length prefix (delimited protobuf).
    Offset(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Offset(n) => write!(f, "byte {n}"),
        }
    }
}

/// One record of an event file, decoded or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub position: Position,
    /// Length of the record's bytes: the line without its line ending, or
    /// the message without its length prefix.
    pub len: usize,
    pub event: Result<Event, DecodeError>,
}

/// Why an event file could not be read (as opposed to a record that did not
/// decode, which is a [`Record`] with an error).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: unknown event file extension (expected .jsonl, .ndjson, .pb or .bin)", path.display())]
    UnknownFormat { path: PathBuf },
    #[error("read error at {position}: {source}")]
    Read {
        position: Position,
        #[source]
        source: io::Error,
    },
    /// A delimited file whose framing is broken: a bad or oversized length
    /// prefix, or a truncated last record. Nothing after it can be read.
    #[error("broken framing at {position}: {reason}")]
    Framing { position: Position, reason: String },
}

/// Streams the records of an event file; see the [module docs](self).
///
/// Records are decoded without a reference time (a file has no log
/// timestamps), so only the absolute bounds apply to `occurred_at`.
pub struct EventReader<R> {
    reader: R,
    format: FileFormat,
    limits: Limits,
    /// Events may not be in the future of this (see [`codec::decode`]).
    reference: Option<Millis>,
    /// Lines read so far (JSON Lines) or bytes consumed (delimited).
    consumed: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> EventReader<R> {
    /// Reads `format` records from any buffered source (a file, stdin, a
    /// byte slice in tests).
    pub fn new(reader: R, format: FileFormat, limits: Limits) -> Self {
        EventReader {
            reader,
            format,
            limits,
            reference: None,
            consumed: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// Reject events more than `limits.max_future_skew` ahead of `now` (the
    /// shell's clock when the file is read), as the live service rejects
    /// events ahead of its clock.
    pub fn not_after(mut self, now: Millis) -> Self {
        self.reference = Some(now);
        self
    }

    /// The layout being read.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    fn next_line(&mut self) -> Option<Result<Record, FileError>> {
        loop {
            self.buf.clear();
            let line_no = self.consumed + 1;
            let cap = self.limits.max_record_bytes;
            let line = match read_line_capped(&mut self.reader, &mut self.buf, cap) {
                Ok(None) => return None,
                Ok(Some(line)) => line,
                Err(source) => {
                    return Some(Err(FileError::Read {
                        position: Position::Line(line_no),
                        source,
                    }))
                }
            };
            self.consumed = line_no;
            let position = Position::Line(line_no);
            if line.cut {
                return Some(Ok(Record {
                    position,
                    len: line.len,
                    event: Err(DecodeError::TooLarge {
                        len: line.len,
                        max: cap,
                    }),
                }));
            }
            let mut text = self.buf.as_slice();
            if line_no == 1 {
                // Editors on some systems start UTF-8 files with a BOM.
                text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
            }
            let text = text.trim_ascii();
            if text.is_empty() || text.starts_with(b"#") {
                continue;
            }
            return Some(Ok(Record {
                position,
                len: line.len,
                event: codec::decode_json(text, &self.limits, self.reference),
            }));
        }
    }

    fn next_delimited(&mut self) -> Option<Result<Record, FileError>> {
        let position = Position::Offset(self.consumed);
        let (len, prefix_len) = match read_length_prefix(&mut self.reader) {
            Ok(None) => return None,
            Ok(Some(prefix)) => prefix,
            Err(Prefix::Io(source)) => return Some(Err(FileError::Read { position, source })),
            Err(Prefix::Bad(reason)) => return Some(Err(FileError::Framing { position, reason })),
        };
        if len > self.limits.max_record_bytes {
            // Skipped unread, as the Kafka path rejects it; a length beyond
            // the rest of the file is broken framing.
            let skipped = io::copy(&mut (&mut self.reader).take(len as u64), &mut io::sink());
            return Some(match skipped {
                Ok(n) if n == len as u64 => {
                    self.consumed += (prefix_len + len) as u64;
                    Ok(Record {
                        position,
                        len,
                        event: Err(DecodeError::TooLarge {
                            len,
                            max: self.limits.max_record_bytes,
                        }),
                    })
                }
                Ok(_) => Err(FileError::Framing {
                    position,
                    reason: format!("truncated record: expected {len} bytes"),
                }),
                Err(source) => Err(FileError::Read { position, source }),
            });
        }
        self.buf.clear();
        self.buf.resize(len, 0);
        match self.reader.read_exact(&mut self.buf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Some(Err(FileError::Framing {
                    position,
                    reason: format!("truncated record: expected {len} bytes"),
                }))
            }
            Err(source) => return Some(Err(FileError::Read { position, source })),
        }
        self.consumed += (prefix_len + len) as u64;
        Some(Ok(Record {
            position,
            len,
            event: codec::decode_protobuf(&self.buf, &self.limits, self.reference),
        }))
    }
}

impl<R: BufRead> Iterator for EventReader<R> {
    type Item = Result<Record, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.format {
            FileFormat::JsonLines => self.next_line(),
            FileFormat::Delimited => self.next_delimited(),
        };
        // After a file error the stream position is unknown: stop.
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
            self.buf = Vec::new();
        }
        item
    }
}

impl<R: BufRead> FusedIterator for EventReader<R> {}

/// Writes events as length-delimited protobuf, the `.pb` / `.bin` layout.
pub fn write_delimited<'a, W: Write>(
    events: impl IntoIterator<Item = &'a Event>,
    mut writer: W,
) -> io::Result<()> {
    let mut buf = Vec::new();
    for event in events {
        buf.clear();
        wire::Envelope::from(event)
            .encode_length_delimited(&mut buf)
            .map_err(io::Error::other)?;
        writer.write_all(&buf)?;
    }
    writer.flush()
}

/// Writes events as JSON Lines, the `.jsonl` layout.
pub fn write_jsonl<'a, W: Write>(
    events: impl IntoIterator<Item = &'a Event>,
    mut writer: W,
) -> io::Result<()> {
    for event in events {
        writer.write_all(codec::encode_json(event).as_bytes())?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}

struct Line {
    /// Length without the line ending (`\n` or `\r\n`).
    len: usize,
    /// More than the cap: `buf` holds only a prefix.
    cut: bool,
}

/// Reads one line into `buf` (without its line ending), keeping at most
/// `cap` bytes and skipping the rest, so an endless line costs no memory.
/// `None` at end of input.
fn read_line_capped<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<Option<Line>> {
    let mut total = 0usize;
    let mut last = None;
    let mut seen_any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        seen_any = true;
        let (chunk, used, end) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        total += chunk.len();
        last = chunk.last().copied().or(last);
        reader.consume(used);
        if end {
            break;
        }
    }
    if !seen_any {
        return Ok(None);
    }
    // A CR before the LF (or at the end of input) is part of the line ending.
    if last == Some(b'\r') {
        total -= 1;
        buf.truncate(total);
    }
    Ok(Some(Line {
        len: total,
        cut: total > cap,
    }))
}

enum Prefix {
    Io(io::Error),
    Bad(String),
}

/// Reads a varint length prefix. `Ok(None)` on a clean end of input (no byte
/// of a next prefix); returns the length and the prefix's size.
fn read_length_prefix<R: Read>(reader: &mut R) -> Result<Option<(usize, usize)>, Prefix> {
    // Collect the varint's bytes, then let prost decode them.
    let mut bytes = [0u8; 10];
    let mut n = 0;
    loop {
        let mut byte = [0u8; 1];
        match reader.read(&mut byte) {
            Ok(0) if n == 0 => return Ok(None),
            Ok(0) => return Err(Prefix::Bad("truncated length prefix".to_owned())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Prefix::Io(e)),
        }
        bytes[n] = byte[0];
        n += 1;
        if byte[0] & 0x80 == 0 {
            break;
        }
        if n == bytes.len() {
            return Err(Prefix::Bad("length prefix longer than 10 bytes".to_owned()));
        }
    }
    let len = prost::decode_length_delimiter(&bytes[..n])
        .map_err(|e| Prefix::Bad(format!("bad length prefix: {e}")))?;
    Ok(Some((len, n)))
}

impl<R> fmt::Debug for EventReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventReader")
            .field("format", &self.format)
            .field("limits", &self.limits)
            .field("consumed", &self.consumed)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
