//! Blocked gzip (BGZF, as htslib writes BAM and VCF files): a gzip file made of many members of at
//! most 64 KiB of data each, every member carrying its own compressed size in a `BC` extra field.
//! It is an ordinary gzip file to every reader (RFC 1952 allows concatenated members; gzip, zlib's
//! gzread, Python's gzip, nibabel, ITK and FSL read it), and to us it is random access: the members
//! compress and inflate independently, so both run in parallel, and each one's CRC-32 and length
//! are checked.

mod libdeflate;

use std::fs::File;
use std::io::Write;

use rayon::prelude::*;

pub use libdeflate::{InflateError, Inflater};

/// Data per member, as htslib: 64 KiB less 256 bytes, so that even incompressible data stored
/// verbatim fits in a member whose size fits BSIZE's 16 bits.
pub const BLOCK_DATA: usize = 0xff00;
/// The largest member (BSIZE + 1).
const MAX_BLOCK: usize = 1 << 16;
const HEADER_LEN: usize = 18;
const TRAILER_LEN: usize = 8;
/// The empty member htslib ends every file with, so a truncated file is recognisable.
pub const EOF_BLOCK: [u8; 28] = [
    0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, b'B', b'C', 2, 0, 0x1b, 0, 3, 0, 0, 0, 0, 0, 0, 0,
    0, 0,
];
/// Members compressed per parallel batch: 16 MiB of data.
const BATCH_BLOCKS: usize = 256;

/// A `Write` that emits BGZF: data are gathered into batches of members compressed in parallel
/// (rayon) by libdeflate; [`BgzfWriter::finish`] writes the last members and the end-of-file
/// member. The output is byte-for-byte the same whatever the thread count.
pub struct BgzfWriter<W: Write> {
    inner: W,
    level: u32,
    pending: Vec<u8>,
}

impl<W: Write> BgzfWriter<W> {
    /// `level`: 0 (stored) to 12; 1-9 compare with zlib's levels.
    pub fn new(inner: W, level: u32) -> Self {
        BgzfWriter { inner, level, pending: Vec::with_capacity(BATCH_BLOCKS * BLOCK_DATA) }
    }

    fn flush_batch(&mut self) -> std::io::Result<()> {
        let level = self.level;
        let members: Vec<Vec<u8>> = self
            .pending
            .par_chunks(BLOCK_DATA)
            .map_init(|| libdeflate::Deflater::new(level), compress_member)
            .collect();
        for m in &members {
            self.inner.write_all(m)?;
        }
        self.pending.clear();
        Ok(())
    }

    /// Writes what is pending and the end-of-file member; returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        if !self.pending.is_empty() {
            self.flush_batch()?;
        }
        self.inner.write_all(&EOF_BLOCK)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for BgzfWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.pending.capacity() - self.pending.len();
        let n = buf.len().min(room);
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == self.pending.capacity() {
            self.flush_batch()?;
        }
        Ok(n)
    }

    /// Members are only written whole, in batches: `flush` passes on to the inner writer.
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One member: header with BSIZE, raw deflate (stored if compression would not fit), CRC, ISIZE.
fn compress_member(deflater: &mut libdeflate::Deflater, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; MAX_BLOCK];
    let room = MAX_BLOCK - HEADER_LEN - TRAILER_LEN;
    let body = &mut m[HEADER_LEN..HEADER_LEN + room];
    let n = deflater
        .deflate(data, body)
        .or_else(|| libdeflate::Deflater::new(0).deflate(data, body))
        .unwrap_or_else(|| unreachable!("stored deflate of {} bytes fits {room}", data.len()));
    let len = HEADER_LEN + n + TRAILER_LEN;
    m.truncate(len);
    m[..16].copy_from_slice(&EOF_BLOCK[..16]);
    m[16..18].copy_from_slice(&((len - 1) as u16).to_le_bytes());
    m[len - 8..len - 4].copy_from_slice(&libdeflate::crc32(0, data).to_le_bytes());
    m[len - 4..].copy_from_slice(&(data.len() as u32).to_le_bytes());
    m
}

/// The member size a gzip member header declares in a `BC` extra subfield, if it has one.
/// `header` holds the member's first bytes (at least 12 plus its XLEN to be recognised).
pub fn bgzf_member_len(header: &[u8]) -> Option<usize> {
    if header.len() < 12 || header[..3] != [0x1f, 0x8b, 8] || header[3] & 4 == 0 {
        return None;
    }
    let xlen = usize::from(u16::from_le_bytes([header[10], header[11]]));
    let mut extra = header.get(12..12 + xlen)?;
    while extra.len() >= 4 {
        let slen = usize::from(u16::from_le_bytes([extra[2], extra[3]]));
        let field = extra.get(4..4 + slen)?;
        if extra[..2] == *b"BC" && slen == 2 {
            return Some(usize::from(u16::from_le_bytes([field[0], field[1]])) + 1);
        }
        extra = &extra[4 + slen..];
    }
    None
}

/// One member of a blocked file: where it lies and what it inflates to.
#[derive(Clone, Copy, Debug)]
struct Member {
    file_offset: u64,
    len: usize,
    data_offset: u64,
    data_len: usize,
}

/// A BGZF file indexed for random access. Every member is inflated whole by libdeflate, which
/// checks its CRC-32 and ISIZE; members no read touched are checked by [`Bgzf::verify_rest`].
pub struct Bgzf {
    file: File,
    members: Vec<Member>,
    verified: Vec<bool>,
    /// The length of the inflated stream.
    pub data_len: u64,
}

impl Bgzf {
    /// Indexes `file` if every byte of it belongs to a BGZF member (each header carrying `BC`, each
    /// member ending where the next begins, sizes within BGZF's limits); `None` otherwise, and the
    /// file is then read as an ordinary gzip stream.
    pub fn index(file: File, file_len: u64) -> std::io::Result<Option<Bgzf>> {
        let mut members = Vec::new();
        let (mut at, mut data_offset) = (0u64, 0u64);
        // One positioned read per member: its last four bytes (ISIZE) and the next member's header.
        let mut buf = [0u8; 4 + 64];
        let want = 64.min(file_len) as usize;
        read_exact_at(&file, &mut buf[4..4 + want], 0)?;
        let mut head_len = want;
        while at < file_len {
            let Some(len) = bgzf_member_len(&buf[4..4 + head_len]) else { return Ok(None) };
            if len < HEADER_LEN + TRAILER_LEN || at + len as u64 > file_len {
                return Ok(None);
            }
            let next = at + len as u64;
            head_len = 64.min(file_len - next) as usize;
            read_exact_at(&file, &mut buf[..4 + head_len], next - 4)?;
            let data_len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if data_len > MAX_BLOCK {
                return Ok(None);
            }
            members.push(Member { file_offset: at, len, data_offset, data_len });
            at = next;
            data_offset += data_len as u64;
        }
        if members.is_empty() {
            return Ok(None);
        }
        let verified = vec![false; members.len()];
        let data_len = members.last().map_or(0, |m| m.data_offset + m.data_len as u64);
        Ok(Some(Bgzf { file, members, verified, data_len }))
    }

    /// Fills `buf` from inflated offset `pos` (fewer bytes only at the end of the stream),
    /// inflating the members it overlaps in parallel, straight into `buf` where a member lies
    /// wholly inside it.
    pub fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let end = (pos + buf.len() as u64).min(self.data_len);
        if pos >= end {
            return Ok(0);
        }
        let first = self.members.partition_point(|m| m.data_offset + m.data_len as u64 <= pos);
        let last = self.members.partition_point(|m| m.data_offset < end);
        let mut out = &mut buf[..(end - pos) as usize];
        let mut jobs = Vec::with_capacity(last - first);
        for (i, m) in self.members.iter().enumerate().take(last).skip(first) {
            let from = pos.max(m.data_offset);
            let to = end.min(m.data_offset + m.data_len as u64);
            let (dest, rest) = std::mem::take(&mut out).split_at_mut((to - from) as usize);
            out = rest;
            jobs.push((i, (from - m.data_offset) as usize, dest));
        }
        // Each task reads its own member (a positioned read), so reading is parallel too.
        let (file, members) = (&self.file, &self.members);
        jobs.par_iter_mut().try_for_each_init(
            || (Inflater::new(), Vec::new()),
            |(inf, compressed), (i, skip, dest)| {
                inflate_member(inf, file, &members[*i], compressed, *skip, dest)
            },
        )?;
        self.verified[first..last].iter_mut().for_each(|v| *v = true);
        Ok((end - pos) as usize)
    }

    /// Inflates (and so checks) every member no read has inflated yet.
    pub fn verify_rest(&mut self) -> std::io::Result<()> {
        let (file, members, verified) = (&self.file, &self.members, &self.verified);
        (0..members.len()).into_par_iter().filter(|&i| !verified[i]).try_for_each_init(
            || (Inflater::new(), Vec::new()),
            |(inf, compressed), i| inflate_member(inf, file, &members[i], compressed, 0, &mut []),
        )?;
        self.verified.iter_mut().for_each(|v| *v = true);
        Ok(())
    }
}

/// `pread`: fills `buf` from `offset` without moving (or needing) a shared file position.
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Reads member `m` from `file` (into the reusable `compressed`), inflates and checks it, and copies
/// its data from `skip` into `dest`: directly when `dest` is the whole member, through a scratch
/// buffer otherwise.
fn inflate_member(
    inf: &mut Inflater,
    file: &File,
    m: &Member,
    compressed: &mut Vec<u8>,
    skip: usize,
    dest: &mut [u8],
) -> std::io::Result<()> {
    compressed.resize(m.len, 0);
    read_exact_at(file, compressed, m.file_offset)?;
    let compressed = &compressed[..];
    let bad = |why: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the gzip member at byte {} (data offset {}) {why}",
                m.file_offset, m.data_offset
            ),
        )
    };
    let check = |r: Result<(usize, usize), InflateError>| match r {
        Ok((used, written)) if used == m.len && written == m.data_len => Ok(()),
        Ok(_) => Err(bad("does not end where its BC size says")),
        Err(_) => Err(bad("fails its check (bad deflate data, CRC-32 or length)")),
    };
    if skip == 0 && dest.len() == m.data_len {
        check(inf.gzip_member(compressed, dest))
    } else {
        let mut scratch = vec![0u8; m.data_len];
        check(inf.gzip_member(compressed, &mut scratch))?;
        dest.copy_from_slice(&scratch[skip..skip + dest.len()]);
        Ok(())
    }
}
