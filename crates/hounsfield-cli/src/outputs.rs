//! A command that writes several files writes all of them or none: each is written atomically,
//! and if a later one fails those already written by this command are removed again.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// The files one command has written so far; removed on drop unless [`Outputs::keep`] is called.
#[derive(Debug, Default)]
pub struct Outputs {
    written: Vec<PathBuf>,
    kept: bool,
}

impl Outputs {
    /// Nothing written yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `write` for `path` and remembers the file when it succeeds.
    pub fn write(&mut self, path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        write(path)?;
        self.written.push(path.to_path_buf());
        Ok(())
    }

    /// The command succeeded: keep every file, and return them.
    pub fn keep(mut self) -> Vec<PathBuf> {
        self.kept = true;
        std::mem::take(&mut self.written)
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        if !self.kept {
            for path in &self.written {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_removes_what_was_written_and_success_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let failed = (|| -> Result<()> {
            let mut out = Outputs::new();
            out.write(&a, |p| Ok(std::fs::write(p, "a")?))?;
            out.write(&b, |_| anyhow::bail!("disk full"))?;
            out.keep();
            Ok(())
        })();
        assert!(failed.is_err() && !a.exists() && !b.exists());
        let mut out = Outputs::new();
        out.write(&a, |p| Ok(std::fs::write(p, "a")?)).unwrap();
        assert_eq!(out.keep(), std::slice::from_ref(&a));
        assert!(a.exists());
    }
}
