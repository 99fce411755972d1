//! Following a live Asterisk `queue_log` like `tail -F`: complete lines
//! are read as they are written and mapped by the core's mapper; a file
//! renamed away (rotation) is read to its end before the new file at the
//! path is taken up from its start; a file cut shorter than the position
//! (truncation, `copytruncate`) is read again from its start.
//!
//! The position ([`FollowState`]: the file's device and inode, the byte
//! offset and line number after the last mapped line, and the mapper's
//! state) is what a caller persists once the events read up to it are
//! delivered, so a restart resumes there: no line lost, and at worst the
//! lines of an undelivered batch read again (the same event ids, which the
//! engine drops). A restart after a rotation it missed finds the old file
//! as `<path>.1` (logrotate's name) by its identity and finishes it first.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::asterisk::{LineReader, QueueLogFileError};
use ccpulse_core::adapters::asterisk::{MapperState, Outcome, QueueLogMapper};
use ccpulse_core::adapters::asterisk_error::QueueLogError;
use ccpulse_core::event::codec::Limits;
use ccpulse_core::event::{Event, Millis};

/// Why following failed.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Read(#[from] QueueLogFileError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {}: {reason}", path.display())]
    State { path: PathBuf, reason: String },
}

/// Where following stands: persist it once the events before it are
/// delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowState {
    /// Identity of the file being read (device, inode).
    pub dev: u64,
    pub ino: u64,
    /// Byte offset and line number after the last mapped line.
    pub offset: u64,
    pub line: u64,
    pub mapper: MapperState,
}

impl FollowState {
    /// Reads a state file; `None` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<FollowState>, FollowError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| FollowError::State {
                    path: path.to_owned(),
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(FollowError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes it atomically (a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> Result<(), FollowError> {
        let io = |source| FollowError::Io {
            path: path.to_owned(),
            source,
        };
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(self).map_err(|e| FollowError::State {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// What one [`Follower::poll`] read.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    /// Lines that could not be mapped (with their file and line number).
    pub errors: Vec<(PathBuf, QueueLogError)>,
    pub lines: u64,
    pub ignored: u64,
    /// The position after this batch.
    pub state: FollowState,
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
    }
}

struct Open {
    path: PathBuf,
    file: File,
    id: (u64, u64),
}

/// Follows one queue_log path; see the [module docs](self).
pub struct Follower {
    path: PathBuf,
    limits: Limits,
    mapper: QueueLogMapper,
    open: Option<Open>,
    offset: u64,
    line: u64,
    /// Where to start when the first file is opened without a saved
    /// position: its end (`false`) or its start.
    from_start: bool,
    saved: Option<FollowState>,
}

/// Lines read per poll at most.
pub const MAX_BATCH_LINES: u64 = 5_000;

impl Follower {
    /// Follow `path`, resuming from `saved` when given; otherwise from the
    /// start of the file (`from_start`) or its end.
    pub fn new(path: &Path, limits: Limits, saved: Option<FollowState>, from_start: bool) -> Self {
        let mapper = QueueLogMapper::with_state(
            limits.clone(),
            saved.as_ref().map(|s| s.mapper.clone()).unwrap_or_default(),
        );
        Follower {
            path: path.to_owned(),
            limits,
            mapper,
            open: None,
            offset: 0,
            line: 0,
            from_start,
            saved,
        }
    }

    fn state(&self) -> FollowState {
        let (dev, ino) = self.open.as_ref().map_or((0, 0), |o| o.id);
        FollowState {
            dev,
            ino,
            offset: self.offset,
            line: self.line,
            mapper: self.mapper.state().clone(),
        }
    }

    fn open_file(path: &Path) -> Result<Option<Open>, FollowError> {
        match File::open(path) {
            Ok(file) => {
                let meta = file.metadata().map_err(|source| FollowError::Io {
                    path: path.to_owned(),
                    source,
                })?;
                Ok(Some(Open {
                    path: path.to_owned(),
                    file,
                    id: identity(&meta),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(FollowError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The first file to read: the saved one (at the path, or rotated to
    /// `<path>.1`), else the file at the path.
    fn first_open(&mut self) -> Result<(), FollowError> {
        let Some(cur) = Self::open_file(&self.path)? else {
            return Ok(());
        };
        if let Some(saved) = self.saved.take() {
            let rotated = PathBuf::from(format!("{}.1", self.path.display()));
            let old = if cur.id == (saved.dev, saved.ino) {
                Some(cur)
            } else {
                Self::open_file(&rotated)?.filter(|o| o.id == (saved.dev, saved.ino))
            };
            if let Some(o) = old {
                self.open = Some(o);
                self.offset = saved.offset;
                self.line = saved.line;
                return Ok(());
            }
            // The saved file is gone: start the current one from its start.
            tracing::warn!(file = %self.path.display(), "the saved queue_log is gone; reading the current file from its start");
            self.open = Self::open_file(&self.path)?;
            self.offset = 0;
            self.line = 0;
            return Ok(());
        }
        if !self.from_start {
            // Start at the end, counting the lines skipped for line numbers.
            let mut reader = LineReader::new(BufReader::new(&cur.file), &cur.path, 0, 0, true);
            while reader.next_line()?.is_some() {}
            (self.line, self.offset) = reader.position();
        }
        self.open = Some(cur);
        Ok(())
    }

    /// Read and map what is new (at most [`MAX_BATCH_LINES`] lines),
    /// following a rotation or truncation. `now` is the clock the events
    /// may not be ahead of (as on the live path).
    pub fn poll(&mut self, now: Millis) -> Result<Batch, FollowError> {
        let mut batch = Batch::default();
        if self.open.is_none() {
            self.first_open()?;
        }
        while let Some(open) = self.open.as_mut() {
            let io = |source| FollowError::Io {
                path: open.path.clone(),
                source,
            };
            let len = open.file.metadata().map_err(io)?.len();
            if len < self.offset {
                tracing::warn!(file = %open.path.display(), "queue_log truncated; reading it from its start");
                self.offset = 0;
                self.line = 0;
            }
            open.file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
            let mut reader = LineReader::new(
                BufReader::new(&open.file),
                &open.path,
                self.line,
                self.offset,
                true,
            );
            while batch.lines < MAX_BATCH_LINES {
                let Some(l) = reader.next_line()? else { break };
                batch.lines += 1;
                match self.mapper.map_line(l.number, &l.bytes, Some(now)) {
                    Ok(Outcome::Events(evs)) => batch.events.extend(evs),
                    Ok(Outcome::Ignored(_)) => batch.ignored += 1,
                    Err(e) => batch.errors.push((open.path.clone(), e)),
                }
                (self.line, self.offset) = reader.position();
            }
            if batch.lines >= MAX_BATCH_LINES {
                break;
            }
            // At the end of this file: has the path moved on to a new one?
            let current = Self::open_file(&self.path)?;
            match current {
                Some(c) if c.id != open.id => {
                    tracing::info!(file = %self.path.display(), "queue_log rotated; following the new file");
                    self.open = Some(c);
                    self.offset = 0;
                    self.line = 0;
                }
                _ => break,
            }
        }
        batch.state = self.state();
        Ok(batch)
    }

    /// The limits events are validated with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}
