//! `ccpulse check-config`: validate a file ccpulse reads, before it is
//! deployed. A service configuration (`ccpulse.toml`) and a vendor mapping
//! (`--mapping`, e.g. `examples/mappings/*.toml`) are both TOML; a mapping
//! is told apart by its `[[rules]]`, which no configuration section has.

use std::path::Path;

use super::error::AppError;
use crate::config::{Config, ConfigError};

/// What kind of file [`check`] validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Config,
    Mapping,
}

impl Checked {
    pub fn as_str(self) -> &'static str {
        match self {
            Checked::Config => "configuration",
            Checked::Mapping => "mapping",
        }
    }
}

/// Validate `path` as a mapping when it has top-level `rules`, else as a
/// service configuration; every problem is reported at once either way.
pub fn check(path: &Path) -> Result<Checked, AppError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let is_mapping = toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("rules"));
    if is_mapping {
        crate::sources::mapped::parse(&text, path)?;
        return Ok(Checked::Mapping);
    }
    Config::load(path)?;
    Ok(Checked::Config)
}
