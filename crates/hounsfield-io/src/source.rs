//! Opening files for reading, transparently gunzipping, with the sizes that bound what a header
//! may declare, and verifying gzip trailers (CRC-32 and length) once the data are read.
//!
//! Three ways through a gzip file, fastest first, all checking every member's CRC-32 and length:
//! - blocked gzip (BGZF, what we write): members inflated in parallel by libdeflate, straight into
//!   the caller's buffer; a member that does not end where its `BC` field says (valid gzip, wrong
//!   BGZF framing) sends the read back to the start as a stream;
//! - one gzip member holding the whole volume: inflated in one call by libdeflate (2-3x zlib) when
//!   the compressed file and the volume together stay within 1.6x the volume's size;
//! - anything else (several members, padding, a file that compresses poorly): streamed through
//!   zlib-rs, member after member, in constant memory.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use bytemuck::Pod;
use flate2::bufread::GzDecoder;

use crate::error::{Error, Result};
use crate::gzip::{Bgzf, InflateError, Inflater};

/// Deflate cannot compress better than about 1032:1, so a gzip file of `n` bytes never holds
/// more than this many times `n` bytes; a header declaring more is lying or truncated.
pub const MAX_DEFLATE_RATIO: u64 = 1032;

const READ_BUFFER: usize = 1 << 20;

/// One-shot inflation needs the compressed file and the whole stream in memory at once; it is
/// used only while that is at most this many times the data read (else the stream is streamed).
const ONE_SHOT_MEMORY: f64 = 1.6;

/// A byte stream from a file, gunzipped if the file starts with the gzip magic.
pub struct Source {
    reader: Box<dyn Read + Send>,
    /// Random access to a blocked gzip file; when set, every read goes through it.
    blocked: Option<Bgzf>,
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
        let gzipped = n == 2 && magic == [0x1f, 0x8b];
        // (The clone shares the file position, so the seek comes after indexing.)
        let blocked = if gzipped {
            Bgzf::index(file.try_clone().map_err(io)?, file_len).map_err(io)?
        } else {
            None
        };
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let buffered = BufReader::with_capacity(READ_BUFFER, file);
        let reader: Box<dyn Read + Send> = if blocked.is_some() {
            Box::new(std::io::empty())
        } else if gzipped {
            Box::new(GzMembers::new(buffered))
        } else {
            Box::new(buffered)
        };
        Ok(Source { reader, blocked, file_len, gzipped, position: 0 })
    }

    /// The most decompressed bytes this file can hold. (Not a blocked file's indexed length: its
    /// `BC` fields are only claims until each member is inflated.)
    pub fn max_content_len(&self) -> u64 {
        if self.gzipped { self.file_len.saturating_mul(MAX_DEFLATE_RATIO) } else { self.file_len }
    }

    /// Drops the blocked index after a read through it failed or came up short, and reads the file
    /// again from its start as an ordinary gzip stream up to where this read stands. A file whose
    /// `BC` sizes are wrong is still valid gzip that every reader inflates; the stream, which
    /// checks each member's CRC-32 and length, has the final word. The bytes already returned
    /// came from members that inflated exactly as indexed, so they stand.
    fn stream_instead(&mut self, path: &Path) -> Result<()> {
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        self.blocked = None;
        self.reader = Box::new(GzMembers::new(BufReader::with_capacity(READ_BUFFER, file)));
        let copied =
            std::io::copy(&mut (&mut self.reader).take(self.position), &mut std::io::sink())
                .map_err(|e| stream_error(path, e))?;
        if copied < self.position {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                reason: format!("the gzip stream ends at byte {copied} of {}", self.position),
            });
        }
        Ok(())
    }

    /// Reads `n` values of `T` (raw bytes in file order) into a new vector.
    pub fn read_vec<T: Pod>(&mut self, n: usize, path: &Path, what: &str) -> Result<Vec<T>> {
        if let Some(values) = self.one_shot(n, path)? {
            return Ok(values);
        }
        let mut values = vec![T::zeroed(); n];
        self.read_exact(bytemuck::cast_slice_mut(&mut values), path, what)?;
        Ok(values)
    }

    /// The rest of a gzip stream that is one member ending with the data wanted, inflated by one
    /// libdeflate call into the vector returned; `None` (stream it instead) for anything else or
    /// when the compressed file and the stream would not fit within [`ONE_SHOT_MEMORY`].
    fn one_shot<T: Pod>(&mut self, n: usize, path: &Path) -> Result<Option<Vec<T>>> {
        let size = size_of::<T>();
        let Some(nbytes) = n.checked_mul(size) else { return Ok(None) };
        let start = self.position;
        let total = start + nbytes as u64;
        let memory = self.file_len.saturating_add(total) as f64;
        if !self.gzipped
            || self.blocked.is_some()
            || nbytes < 1 << 20
            || memory > ONE_SHOT_MEMORY * nbytes as f64
        {
            return Ok(None);
        }
        let Ok(total_len) = usize::try_from(total) else { return Ok(None) };
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io)?;
        // A file that is one member ends with that member's length (mod 2^32); more members or
        // padding end otherwise, and are streamed.
        let mut isize = [0u8; 4];
        file.seek(SeekFrom::End(-4)).map_err(io)?;
        file.read_exact(&mut isize).map_err(io)?;
        if u32::from_le_bytes(isize) != total as u32 {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut compressed = Vec::with_capacity(self.file_len as usize);
        file.read_to_end(&mut compressed).map_err(io)?;
        let mut values = vec![T::zeroed(); total_len.div_ceil(size)];
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
        let used = match Inflater::new().gzip_member(&compressed, &mut bytes[..total_len]) {
            Ok((used, written)) if written == total_len => used,
            Ok(_) | Err(InflateError::InsufficientSpace) => return Ok(None),
            Err(InflateError::BadData) => {
                return Err(Error::Corrupt {
                    path: path.to_path_buf(),
                    reason: "the gzip stream fails its integrity check (bad deflate data, or a \
                             CRC-32 or length that does not match)"
                        .into(),
                });
            }
        };
        bytes.copy_within(start as usize..total_len, 0);
        values.truncate(n);
        // Whatever follows the member (padding, more members) is read and checked as before.
        let tail = compressed.split_off(used);
        drop(compressed);
        self.reader = Box::new(GzMembers::after_member(Cursor::new(tail)));
        self.position = total;
        Ok(Some(values))
    }

    /// Fills `buf` or reports truncation, naming `what` was being read.
    pub fn read_exact(&mut self, buf: &mut [u8], path: &Path, what: &str) -> Result<()> {
        if let Some(b) = &mut self.blocked {
            if matches!(b.read_at(self.position, buf), Ok(n) if n == buf.len()) {
                self.position += buf.len() as u64;
                return Ok(());
            }
            self.stream_instead(path)?;
        }
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
        if let Some(b) = &mut self.blocked {
            if let Ok(n) = b.read_at(self.position, buf) {
                self.position += n as u64;
                return Ok(n);
            }
            self.stream_instead(path)?;
        }
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
        if let Some(b) = &self.blocked {
            // Members skipped over are checked by `finish`; an index too short for the offset
            // may be wrong about its sizes, so the stream decides.
            if offset <= b.data_len {
                self.position = offset;
                return Ok(());
            }
            self.stream_instead(path)?;
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
        if let Some(b) = &mut self.blocked {
            return b.verify_rest().map_err(|e| stream_error(path, e));
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
    state: Members<R>,
}

enum Members<R: BufRead> {
    /// Inside a member.
    Inflating(Box<GzDecoder<R>>),
    /// After a member whose trailer matched: what follows decides what comes next.
    Between(R),
    Done,
}

impl<R: BufRead> GzMembers<R> {
    fn new(reader: R) -> Self {
        GzMembers { state: Members::Inflating(Box::new(GzDecoder::new(reader))) }
    }

    /// Continues after a member inflated (and checked) elsewhere.
    fn after_member(reader: R) -> Self {
        GzMembers { state: Members::Between(reader) }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match std::mem::replace(&mut self.state, Members::Done) {
                Members::Done => return Ok(0),
                Members::Inflating(mut member) => {
                    let n = member.read(buf)?;
                    if n > 0 || buf.is_empty() {
                        self.state = Members::Inflating(member);
                        return Ok(n);
                    }
                    self.state = Members::Between(member.into_inner());
                }
                Members::Between(mut inner) => {
                    let rest = inner.fill_buf()?;
                    match rest.first() {
                        None => return Ok(0),
                        Some(0x1f) => {
                            self.state = Members::Inflating(Box::new(GzDecoder::new(inner)))
                        }
                        Some(_) if rest.iter().all(|&b| b == 0) => {
                            let len = rest.len();
                            inner.consume(len);
                            self.state = Members::Between(inner);
                        }
                        Some(_) => {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                "the bytes after a gzip member are neither another member nor zero padding to the end of the file",
                            ));
                        }
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
