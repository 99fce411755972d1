//! A test's scratch directory: removed when the test passes, kept (and its
//! path printed) when it fails, because then its logs and configurations
//! are what explains the failure. Before this, every run left its
//! directories in the system's temp dir, a hundred per CI run.

use std::ops::Deref;
use std::path::Path;
use std::thread;

/// `<temp dir>/ccpulse-<name>-<random>/`, empty. Unique per call, so two
/// tests (or two runs) never share one.
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("ccpulse-{name}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("create a scratch directory for {name}: {e}"));
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
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
    /// Runs before `TempDir`'s own drop, which removes the directory
    /// unless told not to here.
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.disable_cleanup(true);
            eprintln!(
                "scratch directory kept for this failure: {}",
                self.path().display()
            );
        }
    }
}
