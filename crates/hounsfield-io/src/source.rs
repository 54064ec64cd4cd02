//! Opening files for reading, transparently gunzipping, with the sizes that bound what a header
//! may declare, and verifying gzip trailers (CRC-32 and length) once the data are read.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::bufread::GzDecoder;

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
            if gzipped { Box::new(GzMembers::new(buffered)) } else { Box::new(buffered) };
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
            Err(e) => Err(stream_error(path, e)),
        }
    }

    /// Reads up to `buf.len()` bytes, stopping early only at the end of the stream.
    pub fn read_up_to(&mut self, buf: &mut [u8], path: &Path) -> Result<usize> {
        let n = read_up_to(&mut self.reader, buf).map_err(|e| stream_error(path, e))?;
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
            .map_err(|e| stream_error(path, e))?;
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

impl Source {
    /// Reads the rest of the stream so that every gzip member's trailer is checked: the CRC-32
    /// and length of what was inflated must match what was compressed, or the bytes already
    /// returned were altered (a flipped bit can inflate to other values without any other sign).
    /// Call it after the last byte needed; a no-op cost for uncompressed files.
    pub fn finish(mut self, path: &Path) -> Result<()> {
        if !self.gzipped {
            return Ok(());
        }
        std::io::copy(&mut self.reader, &mut std::io::sink())
            .map(drop)
            .map_err(|e| stream_error(path, e))
    }
}

/// A read error as a typed error: what the gzip layer reports (bad deflate data, a trailer that
/// does not match, trailing garbage) is corruption, not an I/O failure.
fn stream_error(path: &Path, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("the gzip stream fails its integrity check ({e})"),
        },
        std::io::ErrorKind::UnexpectedEof => Error::Truncated {
            path: path.to_path_buf(),
            reason: format!("the gzip stream ends early ({e})"),
        },
        _ => Error::Io { path: path.to_path_buf(), source: e },
    }
}

/// Concatenated gzip members (RFC 1952 section 2.2) inflated as one stream, as gzip, zlib and
/// Python read them: each member's CRC-32 and ISIZE are verified when it ends (flate2 does so
/// on reaching the member's end); zero bytes after the last member are padding; anything else
/// after it is an error.
struct GzMembers<R: BufRead> {
    member: Option<GzDecoder<R>>,
}

impl<R: BufRead> GzMembers<R> {
    fn new(reader: R) -> Self {
        GzMembers { member: Some(GzDecoder::new(reader)) }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(member) = self.member.as_mut() else { return Ok(0) };
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member ended and its trailer matched; what follows decides what comes next.
            let Some(mut inner) = self.member.take().map(GzDecoder::into_inner) else {
                return Ok(0);
            };
            loop {
                let rest = inner.fill_buf()?;
                match rest.first() {
                    None => return Ok(0),
                    Some(0x1f) => {
                        self.member = Some(GzDecoder::new(inner));
                        break;
                    }
                    Some(_) if rest.iter().all(|&b| b == 0) => {
                        let len = rest.len();
                        inner.consume(len);
                    }
                    Some(_) => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "data after the last gzip member is neither a gzip member nor zero padding",
                        ));
                    }
                }
            }
        }
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
