//! A training plan derived from the data, as nnU-Net configures itself from a dataset's
//! "fingerprint" (Isensee et al. 2021): the network's dimensionality, patch and batch size, depth
//! and widths, and which axes may be mirrored, from the training cases' shapes, spacing and
//! orientation. Budgets are this project's (a CPU, a 30-minute schedule), not a GPU's memory.
//!
//! ```
//! use hounsfield_nn::plan::{Fingerprint, plan};
//!
//! // One hemisphere of a 1 mm head, array axes (z, y, x), x running left to right.
//! let fp = Fingerprint {
//!     spacing_mm: [1.0, 1.0, 1.0],
//!     shapes: vec![[181, 217, 85]],
//!     left_right_axis: Some(2),
//! };
//! let p = plan(&fp, None).unwrap();
//! assert_eq!(p.spatial_dims, 2);
//! assert_eq!(p.patch, [1, 216, 80]);
//! assert_eq!(p.mirror, [false, false, true]);
//! ```

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Largest 2D patch, in pixels (about 160 x 160): beyond it a step on this machine's CPU takes
/// longer than a 30-minute schedule of ~1000 steps allows at a batch of 4.
pub const MAX_PATCH_PIXELS_2D: usize = 25_600;
/// Largest 3D patch, in voxels (64^3).
pub const MAX_PATCH_VOXELS_3D: usize = 262_144;
/// Pixels (voxels) per batch the batch size aims at.
pub const BATCH_VOXELS_2D: usize = 65_536;
/// Cases whose every edge is at most this long get a 3D network (their context fits a patch).
pub const MAX_EDGE_3D: usize = 96;
/// Spacing ratio beyond which a volume is treated as a stack of slices (nnU-Net uses 3).
pub const ANISOTROPY: f64 = 3.0;

/// What the plan is derived from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Voxel size along the array axes (z, y, x), in mm (the median over cases).
    pub spacing_mm: [f64; 3],
    /// Array shape (z, y, x) of every training case.
    pub shapes: Vec<[usize; 3]>,
    /// The array axis that runs closest to the patient's left-right axis, if the orientation is
    /// known: the one axis along which anatomy is (nearly) mirror-symmetric.
    pub left_right_axis: Option<usize>,
}

/// The derived configuration, with the reason for each choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// 2 (slices along array axis z) or 3.
    pub spatial_dims: usize,
    /// For 2D: the array axis slices are cut across (0, 1, 2 = z, y, x).
    pub slice_axis: usize,
    /// Patch (z, y, x) of the volume turned to the slicing; `[1, h, w]` for a 2D network.
    pub patch: [usize; 3],
    /// Patches per step.
    pub batch_size: usize,
    /// Feature channels per level (its length is the depth).
    pub channels: Vec<usize>,
    /// Axes along which patches may be mirrored.
    pub mirror: [bool; 3],
    /// Why, one line per decision.
    pub reasons: Vec<String>,
}

/// Derives the plan; `spatial_dims` forces 2D or 3D.
pub fn plan(fp: &Fingerprint, spatial_dims: Option<usize>) -> Result<Plan> {
    if fp.shapes.is_empty() || fp.shapes.iter().any(|s| s.contains(&0)) {
        return Err(Error::Config("a plan needs at least one non-empty training case".into()));
    }
    if fp.spacing_mm.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(Error::Config(format!("spacing {:?} mm is not positive", fp.spacing_mm)));
    }
    let median = median_shape(&fp.shapes);
    let mut reasons =
        vec![format!("median case {median:?} voxels of {:?} mm (z, y, x)", fp.spacing_mm)];
    let s = fp.spacing_mm;
    let thick = s[0] >= ANISOTROPY * s[1].min(s[2]);
    let dims = match spatial_dims {
        Some(d @ (2 | 3)) => {
            reasons.push(format!("{d}D as configured"));
            d
        }
        Some(d) => return Err(Error::Config(format!("spatial_dims must be 2 or 3, not {d}"))),
        None if thick => {
            reasons.push(format!(
                "2D: slices {:.2} mm thick, {ANISOTROPY}x the in-plane spacing or more",
                s[0]
            ));
            2
        }
        None if median.iter().all(|&n| n <= MAX_EDGE_3D) => {
            reasons.push(format!("3D: the cases are at most {MAX_EDGE_3D} voxels along each axis"));
            3
        }
        None => {
            reasons.push(format!(
                "2D: a 3D patch within {MAX_PATCH_VOXELS_3D} voxels would see a small part of \
                 a {median:?} case, and a 3D step costs ~10x a 2D one on a CPU"
            ));
            2
        }
    };
    let thickest = (0..3).max_by(|&a, &b| s[a].total_cmp(&s[b]).then(b.cmp(&a))).unwrap_or(0);
    let slice_axis = if dims == 3 {
        0
    } else if s[thickest] > 1.2 * s.iter().copied().fold(f64::INFINITY, f64::min) {
        reasons.push(format!("slices across array axis {}, the thickest", AXES[thickest]));
        thickest
    } else {
        // Near-isotropic: axial (array z, as scanners store most volumes). Sagittal slices of
        // a head split front/back generalised far worse on ch2 (Dice 0.71 vs 0.89 after 600
        // steps; docs/NN.md).
        0
    };
    let (patch, depth) = if dims == 2 {
        let (a, b) = match slice_axis {
            1 => (0, 2),
            2 => (1, 0),
            _ => (1, 2),
        };
        let in_plane = [median[a], median[b]];
        let depth = depth_for(in_plane.iter().copied().min().unwrap_or(1).min(MAX_EDGE_2D));
        let m = 1usize << (depth - 1);
        let p = fit_patch(&in_plane, &[s[a], s[b]], m, MAX_PATCH_PIXELS_2D);
        ([1, p[0], p[1]], depth)
    } else {
        let depth = depth_for(median.iter().copied().min().unwrap_or(1).min(64));
        let m = 1usize << (depth - 1);
        let p = fit_patch(&median, &s, m, MAX_PATCH_VOXELS_3D);
        ([p[0], p[1], p[2]], depth)
    };
    let voxels: usize = patch.iter().product();
    let batch_size = if dims == 2 { (BATCH_VOXELS_2D / voxels).clamp(2, 12) } else { 2 };
    reasons.push(format!(
        "patch {patch:?}: the median case, in multiples of {} (depth {depth}), within {} voxels",
        1usize << (depth - 1),
        if dims == 2 { MAX_PATCH_PIXELS_2D } else { MAX_PATCH_VOXELS_3D }
    ));
    reasons.push(format!(
        "batch {batch_size}: about {BATCH_VOXELS_2D} voxels per step in 2D, 2 in 3D"
    ));
    let base = if dims == 2 { 16 } else { 8 };
    let channels: Vec<usize> = (0..depth).map(|k| (base << k).min(256)).collect();
    // Mirroring acts on the turned volume: the left-right axis's place after the turn.
    let turned = |axis: usize| match slice_axis {
        0 => axis,
        s if axis == s => 0,
        s if axis == 0 => s,
        _ => axis,
    };
    let mut mirror = [false; 3];
    match fp.left_right_axis.map(turned) {
        Some(a) if a < 3 && (dims == 3 || a > 0) => {
            mirror[a] = true;
            reasons.push(format!(
                "mirroring along array axis {} only: left-right is the one axis along which anatomy is nearly symmetric (not the heart or the liver: set train.augment.flip for those)",
                AXES[a]
            ));
        }
        _ => reasons.push("no mirroring: the left-right axis is unknown or across slices".into()),
    }
    Ok(Plan { spatial_dims: dims, slice_axis, patch, batch_size, channels, mirror, reasons })
}

const AXES: [&str; 3] = ["z", "y", "x"];

/// Longest edge a 2D patch starts from before the budget shrinks it.
const MAX_EDGE_2D: usize = 256;

/// Levels such that the coarsest feature map is 8 to 16 voxels across: 3 to 5.
fn depth_for(edge: usize) -> usize {
    let mut depth = 1;
    while depth < 5 && edge >> depth >= 8 {
        depth += 1;
    }
    depth.max(3)
}

fn median_shape(shapes: &[[usize; 3]]) -> [usize; 3] {
    std::array::from_fn(|k| {
        let mut v: Vec<usize> = shapes.iter().map(|s| s[k]).collect();
        v.sort_unstable();
        v[v.len() / 2]
    })
}

/// The shape rounded down to multiples of `m` (at least `m`), then shrunk one multiple at a
/// time along the axis of largest physical extent until it holds at most `budget` voxels.
fn fit_patch(shape: &[usize], spacing: &[f64], m: usize, budget: usize) -> Vec<usize> {
    let mut p: Vec<usize> = shape.iter().map(|&n| (n / m).max(1) * m).collect();
    while p.iter().product::<usize>() > budget {
        let Some(axis) = (0..p.len())
            .filter(|&k| p[k] > m)
            .max_by(|&a, &b| (p[a] as f64 * spacing[a]).total_cmp(&(p[b] as f64 * spacing[b])))
        else {
            break;
        };
        p[axis] -= m;
    }
    p
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;

    fn fp(shape: [usize; 3], spacing: [f64; 3]) -> Fingerprint {
        Fingerprint { spacing_mm: spacing, shapes: vec![shape], left_right_axis: Some(2) }
    }

    #[test]
    fn head_halves_get_2d_patches_that_fit_the_part_and_the_budget() {
        // ch2 (181 x 217 x 181 at 1 mm) split with a 10 mm gap along each axis.
        let y = plan(&fp([181, 103, 181], [1.0; 3]), None).unwrap();
        assert_eq!((y.spatial_dims, y.patch, y.batch_size), (2, [1, 96, 176], 3));
        let z = plan(&fp([85, 217, 181], [1.0; 3]), None).unwrap();
        assert_eq!(z.patch[0], 1);
        assert!(z.patch[1] * z.patch[2] <= MAX_PATCH_PIXELS_2D, "{:?}", z.patch);
        assert!(z.patch[1] <= 217 && z.patch[2] <= 181 && z.patch[1].is_multiple_of(16));
        assert_eq!(z.channels, [16, 32, 64, 128, 256]);
    }

    #[test]
    fn thick_slices_force_2d_and_small_cases_get_3d() {
        let thick = plan(&fp([40, 256, 256], [5.0, 0.8, 0.8]), None).unwrap();
        assert_eq!((thick.spatial_dims, thick.slice_axis), (2, 0));
        // Thick along x (sagittal acquisitions): slices across x, in-plane (y, z); the
        // left-right axis then runs across slices, so nothing is mirrored.
        let sagittal = plan(&fp([160, 176, 30], [1.0, 1.0, 4.0]), None).unwrap();
        assert_eq!((sagittal.spatial_dims, sagittal.slice_axis), (2, 2));
        assert_eq!(sagittal.patch, [1, 160, 160]);
        assert_eq!(sagittal.mirror, [false; 3]);
        let small = plan(&fp([48, 48, 48], [1.0; 3]), None).unwrap();
        assert_eq!((small.spatial_dims, small.patch), (3, [48, 48, 48]));
        assert_eq!(small.mirror, [false, false, true]);
    }

    #[test]
    fn mirroring_follows_the_left_right_axis_only() {
        let mut f = fp([100, 100, 100], [1.0; 3]);
        f.left_right_axis = None;
        assert_eq!(plan(&f, Some(2)).unwrap().mirror, [false; 3]);
        f.left_right_axis = Some(1);
        assert_eq!(plan(&f, Some(2)).unwrap().mirror, [false, true, false]);
    }

    #[test]
    fn bad_fingerprints_are_refused() {
        assert!(plan(&fp([0, 10, 10], [1.0; 3]), None).is_err());
        assert!(plan(&fp([10, 10, 10], [0.0, 1.0, 1.0]), None).is_err());
        assert!(plan(&fp([10, 10, 10], [1.0; 3]), Some(4)).is_err());
    }
}
