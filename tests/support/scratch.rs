//! A test's scratch directory: removed when the test passes, kept (and its
//! path printed) when it fails, because then its logs and configurations
//! are what explains the failure. Before this, every run left its
//! directories in the system's temp dir, a hundred per CI run.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::thread;

/// `<temp dir>/ccpulse-<name>-<random>/`, empty. Unique per call, so two
/// tests (or two runs) never share one.
pub struct Scratch(Option<tempfile::TempDir>);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("ccpulse-{name}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("create a scratch directory for {name}: {e}"));
        Scratch(Some(dir))
    }

    pub fn path(&self) -> &Path {
        self.0
            .as_ref()
            .map(|d| d.path())
            .expect("scratch directory")
    }
}

impl Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Some(dir) = self.0.take() else { return };
        if thread::panicking() {
            let kept: PathBuf = dir.keep();
            eprintln!(
                "scratch directory kept for this failure: {}",
                kept.display()
            );
        }
        // Otherwise `TempDir`'s own drop removes it.
    }
}
