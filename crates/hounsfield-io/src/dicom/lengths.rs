//! A guard against element lengths larger than the file, checked before dicom-object parses it.
//!
//! dicom-parser allocates and zero-fills a value's declared length before reading it, so a
//! 200-byte file declaring a 4 GiB element would make it touch 4 GiB (found by our fuzzer). This
//! pass walks the element headers with dicom-parser's lazy reader, seeking over values, and
//! refuses any length the file cannot hold.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;

use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::meta::FileMetaTable;
use dicom_parser::dataset::LazyDataToken;
use dicom_parser::dataset::lazy_read::LazyDataSetReader;
use dicom_parser::stateful::decode::StatefulDecode;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::error::{Error, Result};

/// What [`check_element_lengths`] found short of an error.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lengths {
    /// The whole file was verified (pixel data that runs to the end of the file counts).
    pub verified: bool,
    /// A header-only check found the top-level pixel data longer than what is left of the
    /// file: why (the header itself is readable).
    pub pixel_data_short: Option<String>,
}

/// Checks every defined element, sequence and item length of `path` against its size, up to
/// the top-level PixelData when `header_only` (what a header read parses; pixel data that runs
/// past the end of the file is then reported in [`Lengths::pixel_data_short`], not as an
/// error). Files this pass cannot parse are left to the full parser, which reports the problem
/// itself.
pub fn check_element_lengths(path: &Path, header_only: bool) -> Result<Lengths> {
    check(path, header_only).map(|r| match r {
        Ok(verified) => Lengths { verified, pixel_data_short: None },
        Err(short) => Lengths { verified: false, pixel_data_short: Some(short) },
    })
}

/// Ok(verified), or Ok(Err(why)) for pixel data cut short in a header-only check.
fn check(path: &Path, header_only: bool) -> Result<std::result::Result<bool, String>> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let file_len = std::fs::metadata(path).map_err(io)?.len();
    let mut file = BufReader::new(File::open(path).map_err(io)?);
    if file_len < 132 || file.seek(SeekFrom::Start(128)).is_err() {
        return Ok(Ok(false));
    }
    check_meta_lengths(path, file_len)?;
    let Ok(meta) = FileMetaTable::from_reader(&mut file) else { return Ok(Ok(false)) };
    let Some(ts) = TransferSyntaxRegistry.get(meta.transfer_syntax()) else { return Ok(Ok(false)) };
    // A deflated data set cannot be walked without inflating it, and the lazy reader needs to
    // seek: those files are not checked (see docs/IO.md).
    if ts.uid() == "1.2.840.10008.1.2.1.99" {
        return Ok(Ok(false));
    }
    let limit = file_len;
    let Ok(mut reader) = LazyDataSetReader::new_with_ts(file, ts) else { return Ok(Ok(false)) };
    let too_long = |what: String, len: u64| Error::Truncated {
        path: path.to_path_buf(),
        reason: format!("{what} declares {len} bytes, more than the file's {file_len}"),
    };
    let mut depth = 0usize;
    // Inside the top-level encapsulated pixel data: how many of its items were checked.
    let mut pixel_items: Option<usize> = None;
    while let Some(token) = reader.advance() {
        let Ok(token) = token else { return Ok(Ok(false)) };
        let top_level = depth == 0;
        match &token {
            LazyDataToken::SequenceStart { .. } | LazyDataToken::PixelSequenceStart => depth += 1,
            LazyDataToken::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
        let pixel_data = match &token {
            LazyDataToken::LazyValue { header, .. } => header.tag == tags::PIXEL_DATA,
            LazyDataToken::PixelSequenceStart => true,
            _ => false,
        };
        // Pixel data that runs exactly to the end of the file ends the walk: nothing follows
        // it, and skipping it would read it all. (The decoder's position is the value's offset.)
        if let LazyDataToken::LazyValue { header, decoder } = &token
            && pixel_data
            && top_level
            && header.len.get().is_some_and(|len| decoder.position() + u64::from(len) == file_len)
        {
            return Ok(Ok(true));
        }
        // A value must end within the file: pixel data cut short is caught here, with the
        // number of bytes missing, even by a header read.
        if let LazyDataToken::LazyValue { header, decoder } = &token
            && let Some(len) = header.len.get()
            && decoder.position() + u64::from(len) > file_len
        {
            let at = decoder.position();
            let reason = format!(
                "element {} at offset {at} declares {len} bytes, but the file ends {} bytes later ({} bytes missing)",
                header.tag,
                file_len.saturating_sub(at),
                at + u64::from(len) - file_len
            );
            if header_only && top_level && pixel_data {
                return Ok(Err(reason));
            }
            return Err(Error::Truncated { path: path.to_path_buf(), reason });
        }
        if header_only
            && top_level
            && matches!(token, LazyDataToken::LazyValue { .. })
            && pixel_data
        {
            return Ok(Ok(false));
        }
        if top_level && matches!(token, LazyDataToken::PixelSequenceStart) {
            pixel_items = Some(0);
        }
        let (what, len) = match &token {
            LazyDataToken::LazyValue { header, .. } => {
                (format!("element {}", header.tag), header.len.get().map(u64::from))
            }
            LazyDataToken::LazyItemValue { len, .. } => ("an item".into(), Some(u64::from(*len))),
            LazyDataToken::SequenceStart { tag, len } => {
                (format!("sequence {tag}"), len.get().map(u64::from))
            }
            LazyDataToken::ItemStart { len } => ("an item".into(), len.get().map(u64::from)),
            _ => (String::new(), None),
        };
        if let Some(len) = len.filter(|&l| l > limit) {
            return Err(too_long(what, len));
        }
        // Binary values of a fixed size: a length that is not a multiple of it makes
        // dicom-parser read fewer bytes than it skips, and its stream goes astray.
        if let LazyDataToken::LazyValue { header, .. } = &token
            && let Some(size) = fixed_size(header.vr)
            && header.len.get().is_some_and(|l| l % size != 0)
        {
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                reason: format!(
                    "element {} ({:?}) has length {}, not a multiple of {size}",
                    header.tag,
                    header.vr,
                    header.len.get().unwrap_or(0)
                ),
            });
        }
        // A header read still takes in the offset table, the first item of encapsulated pixel
        // data (dicom-object reads it): check it, then stop.
        if let (Some(items), LazyDataToken::LazyItemValue { .. }) = (pixel_items, &token) {
            pixel_items = Some(items + 1);
            if header_only {
                return Ok(Ok(false));
            }
        }
        if matches!(token, LazyDataToken::LazyValue { .. } | LazyDataToken::LazyItemValue { .. })
            && token.skip().is_err()
        {
            return Ok(Ok(false));
        }
    }
    Ok(Ok(true))
}

/// The size of one value of a binary VR, for the VRs read as arrays of fixed-size numbers.
fn fixed_size(vr: VR) -> Option<u32> {
    match vr {
        VR::US | VR::SS => Some(2),
        VR::UL | VR::SL | VR::FL | VR::AT => Some(4),
        VR::FD | VR::SV | VR::UV => Some(8),
        _ => None,
    }
}

/// The file meta group (always explicit VR little endian, right after the magic) walked by
/// hand: dicom-object's meta reader allocates each declared length too (also found by the
/// fuzzer), before the lazy reader can look.
fn check_meta_lengths(path: &Path, file_len: u64) -> Result<()> {
    use std::io::Read;
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let mut head = Vec::new();
    // The meta group is small: 64 KiB is far more than any real one.
    File::open(path).map_err(io)?.take(132 + 65536).read_to_end(&mut head).map_err(io)?;
    let mut at = 132;
    while at + 8 <= head.len() {
        let group = u16::from_le_bytes([head[at], head[at + 1]]);
        if group != 0x0002 {
            break;
        }
        let vr = [head[at + 4], head[at + 5]];
        let long = matches!(&vr, b"OB" | b"OW" | b"OF" | b"SQ" | b"UT" | b"UN" | b"UC" | b"UR");
        let (len, header) = if long {
            let Some(b) = head.get(at + 8..at + 12) else { break };
            (u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])), 12)
        } else {
            (u64::from(u16::from_le_bytes([head[at + 6], head[at + 7]])), 8)
        };
        if len > file_len {
            let element = u16::from_le_bytes([head[at + 2], head[at + 3]]);
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                reason: format!(
                    "file meta element (0002,{element:04X}) declares {len} bytes, more than the file's {file_len}"
                ),
            });
        }
        at += header + len as usize;
    }
    Ok(())
}
