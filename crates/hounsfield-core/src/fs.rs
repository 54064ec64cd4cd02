//! File helpers shared by every crate that writes files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::Error;

/// Writes `path` atomically: `write` fills a temporary file in the same directory, which is
/// flushed, synced and renamed over `path` only if `write` succeeds. A failure leaves any existing
/// file untouched and no temporary behind. The file gets the permissions of the file it replaces,
/// or those of a newly created file (0666 less the umask), not the temporary's private 0600.
pub fn write_atomic<E, F>(path: &Path, write: F) -> Result<(), E>
where
    E: From<Error>,
    F: FnOnce(&mut BufWriter<File>) -> Result<(), E>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        let missing = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("the directory {} does not exist", dir.display()),
        );
        return Err(Error::io(path, missing).into());
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    let replaced = std::fs::metadata(path).ok().map(|m| m.permissions());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Created with this mode, the umask applies as it does to any new file.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let tmp = builder.tempfile_in(dir).map_err(|e| Error::io(path, e))?;
    if let Some(permissions) = replaced {
        tmp.as_file().set_permissions(permissions).map_err(|e| Error::io(path, e))?;
    }
    let mut writer = BufWriter::new(tmp.reopen().map_err(|e| Error::io(path, e))?);
    write(&mut writer)?;
    let file = writer.into_inner().map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    drop(file);
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`write_atomic`]).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_atomic(path, |w| w.write_all(bytes).map_err(|e| Error::io(path, e)))
}

/// Checks that [`write_atomic`] could write `path` now, by creating and removing a temporary
/// file beside it: long jobs (training) call it first, so a read-only or missing folder fails
/// in a second, not after the work.
pub fn check_writable(path: &Path) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new().prefix(".hounsfield-probe.").tempfile_in(dir).map(drop).map_err(|e| {
        Error::io(
            path,
            std::io::Error::new(e.kind(), format!("cannot write in {}: {e}", dir.display())),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_old_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_bytes_atomic(&path, b"first").unwrap();
        let failed: Result<(), Error> = write_atomic(&path, |w| {
            w.write_all(b"partial").map_err(|e| Error::io(&path, e))?;
            Err(Error::param("test", "fails on purpose"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "a temporary file was left behind");
        write_bytes_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
    }

    #[cfg(unix)]
    #[test]
    fn files_get_ordinary_permissions_and_replacements_keep_theirs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_bytes_atomic(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // What `File::create` gives a new file under this process's umask.
        let plain = dir.path().join("plain.bin");
        std::fs::write(&plain, b"x").unwrap();
        let expected = std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, expected, "{mode:o} vs {expected:o}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_bytes_atomic(&path, b"y").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn a_writable_folder_passes_the_probe_and_keeps_nothing_of_it() {
        let dir = tempfile::tempdir().unwrap();
        check_writable(&dir.path().join("model.safetensors")).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // A missing folder fails, naming the file to be written. (A read-only one fails the
        // same way, but not for root, who may write anywhere.)
        let inside = dir.path().join("missing/model.safetensors");
        let err = check_writable(&inside).unwrap_err().to_string();
        assert!(err.contains("missing/model.safetensors"), "{err}");
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let err =
            write_bytes_atomic(Path::new("/nonexistent-dir-hounsfield/x.bin"), b"x").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent-dir-hounsfield/x.bin"), "{msg}");
        assert!(msg.contains("does not exist") && !msg.contains(".tmp"), "{msg}");
    }
}
