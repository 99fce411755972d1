//! Vendor JSON through a declarative mapping
//! ([`ccpulse_core::adapters::mapping`]): loading a mapping file (TOML,
//! unknown fields rejected, then every problem reported at once), mapping
//! one record's bytes, and reading a file of records (one per line, or one
//! JSON array) with each record's position for errors.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use ccpulse_core::adapters::mapping::{Mapped, Mapping};
use ccpulse_core::adapters::mapping_error::MapError;
use ccpulse_core::adapters::mapping_spec::MappingSpec;
use ccpulse_core::event::codec::Limits;
use ccpulse_core::event::Millis;
use ccpulse_core::settings::Issue;

/// Why a mapping or a file of records could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum MappedError {
    #[error("cannot read {}: {source} (fix: check the path and that ccpulse may read it)", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mapping {}: {reason}", path.display())]
    Syntax { path: PathBuf, reason: String },
    #[error("mapping {} has {} problem(s):{}", path.display(), issues.len(), list(issues))]
    Invalid { path: PathBuf, issues: Vec<Issue> },
    #[error("{}: not a JSON array of records: {reason}", path.display())]
    Array { path: PathBuf, reason: String },
}

fn list(issues: &[Issue]) -> String {
    issues.iter().map(|i| format!("\n  - {i}")).collect()
}

/// Reads and validates a mapping file.
pub fn load(path: &Path) -> Result<Mapping, MappedError> {
    let text = std::fs::read_to_string(path).map_err(|source| MappedError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and validates mapping TOML; `path` labels errors.
pub fn parse(text: &str, path: &Path) -> Result<Mapping, MappedError> {
    let spec: MappingSpec = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end().replace('\n', " ");
        let reason = match e.span() {
            Some(span) => {
                let before = text.get(..span.start).unwrap_or(text);
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
                format!("line {line}, column {column}: {message}")
            }
            None => message,
        };
        MappedError::Syntax {
            path: path.to_owned(),
            reason,
        }
    })?;
    Mapping::new(&spec).map_err(|issues| MappedError::Invalid {
        path: path.to_owned(),
        issues,
    })
}

/// Maps one record's bytes: size limit, JSON parse, then the mapping
/// (validated with `limits`, against `reference` when given).
pub fn map_bytes(
    mapping: &Mapping,
    bytes: &[u8],
    limits: &Limits,
    reference: Option<Millis>,
) -> Result<Mapped, MapError> {
    if bytes.len() > limits.max_record_bytes {
        return Err(MapError::Malformed(format!(
            "record of {} bytes exceeds the limit of {} bytes (input.max_record_bytes)",
            bytes.len(),
            limits.max_record_bytes
        )));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| MapError::Malformed(e.to_string()))?;
    mapping.apply_with(&value, limits, reference)
}

/// Where a record is in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// 1-based line of a JSON Lines file.
    Line(usize),
    /// 1-based index in a JSON array file.
    Item(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Item(n) => write!(f, "record {n}"),
        }
    }
}

/// One record of a file and what it mapped to.
#[derive(Debug)]
pub struct Item {
    pub at: Position,
    pub outcome: Result<Mapped, MapError>,
}

/// Counts over a file, for the report a caller prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub records: u64,
    pub events: u64,
    /// Matched by a rule that emits nothing.
    pub ignored: u64,
    /// Matched by no rule.
    pub unmatched: u64,
    pub failed: u64,
}

impl Counts {
    pub fn add(&mut self, outcome: &Result<Mapped, MapError>) {
        self.records += 1;
        match outcome {
            Ok(m) if !m.events.is_empty() => self.events += m.events.len() as u64,
            Ok(m) if m.rule.is_some() => self.ignored += 1,
            Ok(_) => self.unmatched += 1,
            Err(_) => self.failed += 1,
        }
    }
}

/// Records from a reader, mapped one by one.
pub struct MappedReader<R> {
    mapping: Mapping,
    limits: Limits,
    source: Source<R>,
}

enum Source<R> {
    Lines { reader: R, line: usize },
    Array(std::iter::Enumerate<std::vec::IntoIter<serde_json::Value>>),
}

impl<R: BufRead> MappedReader<R> {
    /// Reads JSON Lines (blank lines and lines starting with `#` skipped),
    /// or, when the first non-blank byte is `[`, one JSON array of records.
    pub fn new(mut reader: R, mapping: Mapping, limits: Limits) -> Result<Self, String> {
        let mut skipped = 0;
        let array = loop {
            let buf = reader.fill_buf().map_err(|e| e.to_string())?;
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    let first = buf[i];
                    break first == b'[';
                }
                None if buf.is_empty() => break false,
                None => {
                    let n = buf.len();
                    skipped += buf.iter().filter(|b| **b == b'\n').count();
                    reader.consume(n);
                }
            }
        };
        let source = if array {
            let mut text = Vec::new();
            reader.read_to_end(&mut text).map_err(|e| e.to_string())?;
            let items: Vec<serde_json::Value> =
                serde_json::from_slice(&text).map_err(|e| e.to_string())?;
            Source::Array(items.into_iter().enumerate())
        } else {
            // Blank lines consumed above still count.
            Source::Lines {
                reader,
                line: skipped,
            }
        };
        Ok(MappedReader {
            mapping,
            limits,
            source,
        })
    }
}

impl<R: BufRead> Iterator for MappedReader<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        match &mut self.source {
            Source::Array(items) => {
                let (i, v) = items.next()?;
                Some(Item {
                    at: Position::Item(i + 1),
                    outcome: self.mapping.apply_with(&v, &self.limits, None),
                })
            }
            Source::Lines { reader, line } => loop {
                let mut buf = Vec::new();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) => return None,
                    Ok(_) => {}
                    Err(e) => {
                        *line += 1;
                        return Some(Item {
                            at: Position::Line(*line),
                            outcome: Err(MapError::Malformed(format!("read error: {e}"))),
                        });
                    }
                }
                *line += 1;
                let text = buf.trim_ascii();
                if text.is_empty() || text.starts_with(b"#") {
                    continue;
                }
                return Some(Item {
                    at: Position::Line(*line),
                    outcome: map_bytes(&self.mapping, text, &self.limits, None),
                });
            },
        }
    }
}

/// Opens a file of vendor records for `mapping`.
pub fn open(
    path: &Path,
    mapping: Mapping,
    limits: Limits,
) -> Result<MappedReader<BufReader<File>>, MappedError> {
    let file = File::open(path).map_err(|source| MappedError::Read {
        path: path.to_owned(),
        source,
    })?;
    MappedReader::new(BufReader::with_capacity(64 * 1024, file), mapping, limits).map_err(
        |reason| MappedError::Array {
            path: path.to_owned(),
            reason,
        },
    )
}
