//! DICOM RLE Lossless (PS3.5 Annex G) for 8-, 16- and 32-bit samples.
//!
//! Ours rather than dicom-pixeldata's, which refuses 32-bit samples (RT Dose is usually 32-bit).
//! Each frame is one fragment: a 64-byte header (segment count, then up to 15 segment offsets)
//! and PackBits-coded segments, one per byte of each sample, most significant byte first.

use std::borrow::Cow;

/// The compressed bytes of each frame of encapsulated pixel data: one fragment per frame, or
/// all fragments joined for a single frame.
pub fn encapsulated_frames(
    fragments: &[Vec<u8>],
    frames: usize,
) -> Result<Vec<Cow<'_, [u8]>>, String> {
    if fragments.len() == frames {
        Ok(fragments.iter().map(|f| Cow::Borrowed(f.as_slice())).collect())
    } else if frames == 1 && !fragments.is_empty() {
        Ok(vec![Cow::Owned(fragments.concat())])
    } else {
        Err(format!("{} fragments for {frames} frames", fragments.len()))
    }
}

/// Decodes every frame (one compressed frame each, see [`encapsulated_frames`]) into
/// little-endian samples, planar (each frame holds its sample planes one after the other).
pub fn decode_rle(
    per_frame: &[Cow<'_, [u8]>],
    pixels: usize,
    samples: usize,
    bytes_per_sample: usize,
) -> Result<Vec<u8>, String> {
    let frames = per_frame.len();
    let segments = samples * bytes_per_sample;
    let frame_len = pixels * segments;
    let mut out = vec![0u8; frame_len * frames];
    let mut segment = Vec::with_capacity(pixels);
    for (f, fragment) in per_frame.iter().enumerate() {
        let offsets = segment_offsets(fragment, segments).map_err(|e| format!("frame {f}: {e}"))?;
        let frame = &mut out[f * frame_len..(f + 1) * frame_len];
        for (i, range) in offsets.into_iter().enumerate() {
            packbits(&fragment[range], pixels, &mut segment)
                .map_err(|e| format!("frame {f}, segment {i}: {e}"))?;
            // Segment i is byte (i % bytes) of sample (i / bytes), most significant first.
            let (sample, byte) =
                (i / bytes_per_sample, bytes_per_sample - 1 - i % bytes_per_sample);
            let plane =
                &mut frame[sample * pixels * bytes_per_sample..][..pixels * bytes_per_sample];
            if bytes_per_sample == 1 {
                plane.copy_from_slice(&segment);
            } else {
                for (dst, &b) in plane.chunks_exact_mut(bytes_per_sample).zip(&segment) {
                    dst[byte] = b;
                }
            }
        }
    }
    Ok(out)
}

/// The byte range of each segment, from the fragment's header.
fn segment_offsets(
    fragment: &[u8],
    expected: usize,
) -> Result<Vec<std::ops::Range<usize>>, String> {
    let word = |i: usize| -> Option<usize> {
        let b = fragment.get(4 * i..4 * i + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = word(0).ok_or("the RLE header is truncated")?;
    if count != expected {
        return Err(format!("{count} RLE segments, expected {expected}"));
    }
    let starts: Vec<usize> =
        (1..=count).map(word).collect::<Option<_>>().ok_or("the RLE header is truncated")?;
    (0..count)
        .map(|i| {
            let end = if i + 1 < count { starts[i + 1] } else { fragment.len() };
            if starts[i] < 64 || starts[i] > end || end > fragment.len() {
                Err(format!("segment {i} spans bytes {}..{end} of {}", starts[i], fragment.len()))
            } else {
                Ok(starts[i]..end)
            }
        })
        .collect()
}

/// PackBits: a header byte n in 0..=127 copies n + 1 literal bytes, -127..=-1 repeats the next
/// byte 1 - n times, -128 does nothing. Decodes exactly `len` bytes into `out`.
fn packbits(input: &[u8], len: usize, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let mut i = 0;
    while out.len() < len {
        let Some(&n) = input.get(i) else {
            return Err(format!("ends after {} of {len} bytes", out.len()));
        };
        let n = n as i8;
        i += 1;
        if n >= 0 {
            let count = n as usize + 1;
            let literal = input.get(i..i + count).ok_or("a literal run overruns the segment")?;
            out.extend_from_slice(literal);
            i += count;
        } else if n != -128 {
            let value = *input.get(i).ok_or("a repeat run overruns the segment")?;
            out.resize(out.len() + (1 - isize::from(n)) as usize, value);
            i += 1;
        }
    }
    // Encoders may pad the last run past the image: keep what the image holds.
    out.truncate(len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fragment with the given segments, each PackBits-coded as literal runs.
    fn fragment(segments: &[Vec<u8>]) -> Vec<u8> {
        let coded: Vec<Vec<u8>> = segments
            .iter()
            .map(|s| {
                s.chunks(128)
                    .flat_map(|c| [vec![(c.len() - 1) as u8], c.to_vec()].concat())
                    .collect()
            })
            .collect();
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut offset = 64;
        for (i, c) in coded.iter().enumerate() {
            header[4 + 4 * i..8 + 4 * i].copy_from_slice(&(offset as u32).to_le_bytes());
            offset += c.len();
        }
        [header, coded.concat()].concat()
    }

    #[test]
    fn packbits_runs_follow_the_standard() {
        let mut out = Vec::new();
        // 2 literals, a run of 3 x 7, a no-op, 1 literal.
        packbits(&[1, 10, 11, (-2i8) as u8, 7, 0x80, 0, 12], 6, &mut out).unwrap();
        assert_eq!(out, [10, 11, 7, 7, 7, 12]);
        assert!(packbits(&[5, 1, 2], 6, &mut out).is_err(), "a literal run past the end");
        assert!(packbits(&[0, 1], 6, &mut out).is_err(), "too few bytes");
    }

    #[test]
    fn thirty_two_bit_samples_are_reassembled_most_significant_byte_first() {
        let values: [u32; 3] = [0x0102_0304, 0xA0B0_C0D0, 7];
        let segments: Vec<Vec<u8>> =
            (0..4).map(|b| values.iter().map(|v| v.to_be_bytes()[b]).collect()).collect();
        let out = decode_rle(&[Cow::Owned(fragment(&segments))], 3, 1, 4).unwrap();
        let got: Vec<u32> =
            out.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(got, values);
    }

    #[test]
    fn malformed_fragments_are_errors() {
        let good = fragment(&[vec![1, 2, 3]]);
        assert!(decode_rle(&[Cow::Borrowed(&good[..])], 3, 1, 2).unwrap_err().contains("segments"));
        assert!(decode_rle(&[Cow::Borrowed(&good[..10])], 3, 1, 1).is_err());
        let two = [good.clone(), good];
        assert!(encapsulated_frames(&two, 3).unwrap_err().contains("fragments"));
        assert_eq!(encapsulated_frames(&two, 1).unwrap()[0].len(), 2 * two[0].len());
    }
}
