//! Opening files for reading, transparently gunzipping, with the sizes that bound what a header
//! may declare.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};

/// Deflate cannot compress better than about 1032:1, so a gzip file of `n` bytes never holds
/// more than this many times `n` bytes; a header declaring more is lying or truncated.
pub const MAX_DEFLATE_RATIO: u64 = 1032;

const READ_BUFFER: usize = 1 << 20;

/// A byte stream from a file, gunzipped if the file starts with the gzip magic.
pub struct Source {
    reader: Box<dyn Read + Send>,
    /// Size of the file on disk.
    pub file_len: u64,
    /// Whether the stream is gunzipped.
    pub gzipped: bool,
    /// Bytes consumed from the (decompressed) stream so far.
    pub position: u64,
}

impl Source {
    /// Opens `path`, detecting gzip by its magic bytes, not by the file name.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut magic = [0u8; 2];
        let n = read_up_to(&mut file, &mut magic).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let gzipped = n == 2 && magic == [0x1f, 0x8b];
        let buffered = BufReader::with_capacity(READ_BUFFER, file);
        let reader: Box<dyn Read + Send> =
            if gzipped { Box::new(MultiGzDecoder::new(buffered)) } else { Box::new(buffered) };
        Ok(Source { reader, file_len, gzipped, position: 0 })
    }

    /// The most decompressed bytes this file can hold.
    pub fn max_content_len(&self) -> u64 {
        if self.gzipped { self.file_len.saturating_mul(MAX_DEFLATE_RATIO) } else { self.file_len }
    }

    /// Fills `buf` or reports truncation, naming `what` was being read.
    pub fn read_exact(&mut self, buf: &mut [u8], path: &Path, what: &str) -> Result<()> {
        match self.reader.read_exact(buf) {
            Ok(()) => {
                self.position += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::Truncated {
                path: path.to_path_buf(),
                reason: format!(
                    "the file ends inside the {what} (needed {} bytes from offset {})",
                    buf.len(),
                    self.position
                ),
            }),
            Err(e) => Err(Error::Io { path: path.to_path_buf(), source: e }),
        }
    }

    /// Reads up to `buf.len()` bytes, stopping early only at the end of the stream.
    pub fn read_up_to(&mut self, buf: &mut [u8], path: &Path) -> Result<usize> {
        let n = read_up_to(&mut self.reader, buf)
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        self.position += n as u64;
        Ok(n)
    }

    /// Skips forward to absolute stream offset `offset`.
    pub fn skip_to(&mut self, offset: u64, path: &Path, what: &str) -> Result<()> {
        if offset < self.position {
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                reason: format!(
                    "{what} offset {offset} points back into bytes already read (at {})",
                    self.position
                ),
            });
        }
        let n = offset - self.position;
        let copied = std::io::copy(&mut (&mut self.reader).take(n), &mut std::io::sink())
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        self.position += copied;
        if copied < n {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                reason: format!(
                    "the file ends at byte {} before the {what} at offset {offset}",
                    self.position
                ),
            });
        }
        Ok(())
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
