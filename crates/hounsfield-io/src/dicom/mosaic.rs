//! Siemens mosaics: a whole EPI volume stored as one image of `grid x grid` tiles, each tile a
//! slice. Unpacked as nibabel, SPM and dcm2niix do: NumberOfImagesInMosaic from the CSA image
//! header (or the (0019,xx0A) shadow attribute), tiles read row by row, the position of the first
//! tile corrected from the whole image's (which Siemens computes for the enlarged field of view),
//! slices stacked at SpacingBetweenSlices along the CSA SliceNormalVector (the direction of
//! increasing tile number, which may be opposite to row x column).
//!
//! What cannot be proven is refused: a mosaic without a slice count, an image that does not
//! divide into whole tiles, a CSA normal not parallel to the slice planes, a first tile that is
//! not the protocol's first slice (CSA ProtocolSliceNumber), and a protocol slice array
//! (MrPhoenixProtocol's sSliceArray) that runs against the stacking direction or spans another
//! distance than the tiles.

use dicom_object::InMemDicomObject;

use super::csa::{CsaHeader, ascconv};
use super::header::DicomHeader;
use super::private::{self, SIEMENS_MR};

/// The layout of a mosaic as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mosaic {
    /// Slices packed in the image (NumberOfImagesInMosaic).
    pub slices: usize,
    /// Tiles per row and per column of the stored image: ceil(sqrt(slices)).
    pub grid: usize,
    /// Rows of the stored image.
    pub stored_rows: usize,
    /// Columns of the stored image.
    pub stored_columns: usize,
}

/// Whether (0008,0008) ImageType has a MOSAIC value.
pub fn is_mosaic(image_type: &str) -> bool {
    image_type.split('\\').any(|v| v.trim().eq_ignore_ascii_case("MOSAIC"))
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Turns the header of a mosaic file into the header of the volume it packs: tile size, one
/// frame per slice, the first tile's position, frame offsets along the normal, slice times.
/// Other files are left as they are. The error says why a mosaic cannot be unpacked.
pub fn unpack(
    h: &mut DicomHeader,
    obj: &InMemDicomObject,
    image: Option<&CsaHeader>,
    series: Option<&CsaHeader>,
) -> Result<(), String> {
    if !is_mosaic(&h.image_type) {
        return Ok(());
    }
    let from_csa = image.and_then(|c| c.float("NumberOfImagesInMosaic"));
    let from_shadow =
        private::private(obj, SIEMENS_MR, 0x0A).and_then(private::binary_u16).map(f64::from);
    let slices = match (from_csa, from_shadow) {
        (Some(a), Some(b)) if a != b => {
            return Err(format!(
                "a mosaic whose CSA NumberOfImagesInMosaic ({a}) and (0019,xx0A) ({b}) disagree"
            ));
        }
        (Some(n), _) | (None, Some(n)) if (1.0..=65535.0).contains(&n) && n.fract() == 0.0 => {
            n as usize
        }
        (None, None) => {
            return Err("ImageType says MOSAIC but neither the CSA image header nor (0019,xx0A) gives NumberOfImagesInMosaic: the tiles cannot be unpacked".into());
        }
        (Some(n), _) | (None, Some(n)) => {
            return Err(format!("a mosaic with NumberOfImagesInMosaic {n}"));
        }
    };
    if slices == 1 {
        return Ok(()); // one tile: the image is the slice
    }
    if h.frames != 1 || h.samples_per_pixel != 1 || h.bits_allocated < 8 {
        return Err(format!(
            "a mosaic with {} frames, {} samples per pixel and {} bits allocated (expected one grey frame)",
            h.frames, h.samples_per_pixel, h.bits_allocated
        ));
    }
    let grid = (1..=slices).find(|g| g * g >= slices).unwrap_or(slices);
    let (rows, columns) = (h.rows, h.columns);
    if rows % grid != 0 || columns % grid != 0 {
        return Err(format!(
            "a {columns}x{rows} mosaic cannot hold {grid}x{grid} whole tiles for its {slices} slices (resized or cropped after acquisition?)"
        ));
    }
    let (tile_rows, tile_columns) = (rows / grid, columns / grid);
    let ([row, col, cross], Some(position), Some([dy, dx])) =
        (h.axes().ok_or("a mosaic without ImageOrientationPatient")?, h.position, h.pixel_spacing)
    else {
        return Err("a mosaic without ImagePositionPatient or PixelSpacing".into());
    };
    if let Some(n) = image.and_then(|c| c.float("ProtocolSliceNumber"))
        && n != 0.0
    {
        return Err(format!(
            "the mosaic's first tile is protocol slice {n}, not 0 (CSA ProtocolSliceNumber): the tile order is not the protocol's"
        ));
    }
    // The sign of the stacking direction: along the CSA normal where there is one.
    let sign = match image.and_then(|c| c.floats("SliceNormalVector")) {
        Some(v) if v.len() == 3 => {
            let along =
                dot([v[0], v[1], v[2]], cross) / dot([v[0], v[1], v[2]], [v[0], v[1], v[2]]).sqrt();
            if along.abs() < 0.999 {
                return Err(format!(
                    "the CSA SliceNormalVector {v:?} is not perpendicular to the image plane (cosine {along:.4} with its normal)"
                ));
            }
            along.signum()
        }
        _ => 1.0,
    };
    let spacing = h.spacing_between_slices.or(h.slice_thickness).ok_or(
        "a mosaic without SpacingBetweenSlices or SliceThickness: its slices cannot be placed",
    )?;
    let normal = cross.map(|v| v * sign);
    if let Some(protocol) = series.and_then(|c| c.text("MrPhoenixProtocol")) {
        check_protocol_slices(&ascconv(protocol), slices, normal, spacing)?;
    }
    // ImagePositionPatient is the corner of the whole image centred on the slice: move it to the
    // corner of the first tile.
    let shift_x = dx * (columns - tile_columns) as f64 / 2.0;
    let shift_y = dy * (rows - tile_rows) as f64 / 2.0;
    h.position = Some([0, 1, 2].map(|k| position[k] + row[k] * shift_x + col[k] * shift_y));
    h.mosaic = Some(Mosaic { slices, grid, stored_rows: rows, stored_columns: columns });
    h.rows = tile_rows;
    h.columns = tile_columns;
    h.frames = slices;
    h.frame_offsets = Some((0..slices).map(|k| k as f64 * spacing).collect());
    h.slice_normal = Some(normal);
    h.slice_times_ms = image
        .and_then(|c| c.floats("MosaicRefAcqTimes"))
        .filter(|t| t.len() >= slices)
        .map(|t| t[..slices].to_vec());
    Ok(())
}

/// The protocol's slice array (ASCCONV `sSliceArray.asSlice[i].sPosition`, centres in patient
/// coordinates; absent components are 0) must run from the first tile to the last along
/// `normal`, over `(slices - 1) * spacing`.
fn check_protocol_slices(
    lines: &[(String, String)],
    slices: usize,
    normal: [f64; 3],
    spacing: f64,
) -> Result<(), String> {
    let value = |key: &str| lines.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if value("sSliceArray.lSize").and_then(|v| v.parse::<usize>().ok()) != Some(slices) {
        return Ok(()); // another slice count (slice groups, concatenations): nothing to compare
    }
    let centre = |i: usize| -> Option<[f64; 3]> {
        let prefix = format!("sSliceArray.asSlice[{i}].");
        lines.iter().any(|(k, _)| k.starts_with(&prefix)).then(|| {
            ["dSag", "dCor", "dTra"].map(|c| {
                value(&format!("{prefix}sPosition.{c}")).and_then(|v| v.parse().ok()).unwrap_or(0.0)
            })
        })
    };
    let (Some(first), Some(last)) = (centre(0), centre(slices - 1)) else { return Ok(()) };
    let span = dot([0, 1, 2].map(|k| last[k] - first[k]), normal);
    let expected = (slices - 1) as f64 * spacing;
    if (span - expected).abs() > 0.01 * expected + 0.1 {
        return Err(format!(
            "the protocol's slices span {span:.3} mm along the stacking direction, the tiles {expected:.3} mm ({slices} at {spacing} mm): the tile order or spacing is not the protocol's"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(last_tra: &str) -> Vec<(String, String)> {
        [
            ("sSliceArray.lSize", "3"),
            ("sSliceArray.asSlice[0].sPosition.dTra", "-10"),
            ("sSliceArray.asSlice[0].dThickness", "2.5"),
            ("sSliceArray.asSlice[2].sPosition.dTra", last_tra),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn protocol_slices_must_run_along_the_tiles() {
        let up = [0.0, 0.0, 1.0];
        assert!(check_protocol_slices(&lines("-4"), 3, up, 3.0).is_ok());
        let err = check_protocol_slices(&lines("-16"), 3, up, 3.0).unwrap_err();
        assert!(err.contains("-6.000"), "{err}");
        assert!(check_protocol_slices(&lines("-4"), 3, [0.0, 0.0, -1.0], 3.0).is_err());
        assert!(check_protocol_slices(&lines("-4"), 4, up, 3.0).is_ok(), "other slice count");
    }

    #[test]
    fn mosaic_image_types() {
        assert!(is_mosaic("ORIGINAL\\PRIMARY\\DIFFUSION\\NONE\\ND\\MOSAIC"));
        assert!(!is_mosaic("ORIGINAL\\PRIMARY\\M\\ND"));
    }
}
