//! The image grid as kernels see it, and its split into z slabs that fit in device memory.

use crate::{Error, Result};

/// A voxel grid: sizes along (x, y, z), the first voxel's centre and the spacing in mm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridSpec {
    /// Voxels along x, y, z (`z = 1` for 2D images).
    pub n: [usize; 3],
    /// 2 for images walked in the x-y plane only, 3 for volumes.
    pub dims: usize,
    /// World position of voxel (0, 0, 0), mm.
    pub first: [f64; 3],
    /// Voxel size, mm.
    pub spacing: [f64; 3],
}

impl GridSpec {
    /// Voxels in the grid.
    pub fn len(&self) -> usize {
        self.n.iter().product()
    }

    /// Whether the grid has no voxel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let ok = self.n.iter().all(|&n| n > 0 && i32::try_from(n).is_ok())
            && matches!(self.dims, 2 | 3)
            && (self.dims == 3 || self.n[2] == 1)
            && self.spacing.iter().all(|s| s.is_finite() && *s > 0.0)
            && self.first.iter().all(|f| f.is_finite());
        if ok { Ok(()) } else { Err(Error::Invalid(format!("invalid grid {self:?}"))) }
    }

    /// The planes `z0 .. z0 + depth` as a grid of their own.
    pub(crate) fn slab(&self, z0: usize, depth: usize) -> GridSpec {
        let mut g = *self;
        g.n[2] = depth;
        g.first[2] = self.first[2] + z0 as f64 * self.spacing[2];
        g
    }

    /// Ints and doubles as the kernels read them: `n[3], dims` and `first[3], spacing[3]`.
    pub(crate) fn kernel_args(&self) -> Result<([i32; 4], [f64; 6])> {
        let int = |v: usize| crate::device::int(v, "grid size");
        Ok((
            [int(self.n[0])?, int(self.n[1])?, int(self.n[2])?, int(self.dims)?],
            [
                self.first[0],
                self.first[1],
                self.first[2],
                self.spacing[0],
                self.spacing[1],
                self.spacing[2],
            ],
        ))
    }
}

/// Planes per slab so that `fixed` bytes plus `per_plane` bytes per plane stay within half of
/// the free device memory.
pub(crate) fn slab_depth(nz: usize, per_plane: usize, fixed: usize, free: usize) -> Result<usize> {
    let budget = free / 2;
    if fixed + per_plane > budget {
        return Err(Error::Invalid(format!(
            "the problem needs at least {} MiB on the device, {} MiB are free",
            (fixed + per_plane) >> 20,
            free >> 20
        )));
    }
    Ok(((budget - fixed) / per_plane.max(1)).clamp(1, nz.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slabs_fit_the_budget_and_refuse_what_cannot() {
        // 1 GiB free: half for the work; 100 MiB fixed, 10 MiB per plane -> 41 planes.
        let depth = slab_depth(512, 10 << 20, 100 << 20, 1 << 30).ok();
        assert_eq!(depth, Some(41));
        assert_eq!(slab_depth(8, 1 << 20, 0, 1 << 30).ok(), Some(8));
        assert!(slab_depth(8, 1 << 20, 600 << 20, 1 << 30).is_err());
        let g =
            GridSpec { n: [4, 4, 10], dims: 3, first: [0.0, 0.0, -5.0], spacing: [1.0, 1.0, 2.0] };
        let s = g.slab(3, 2);
        assert_eq!((s.n, s.first[2]), ([4, 4, 2], 1.0));
        assert!(GridSpec { n: [4, 4, 2], dims: 2, ..g }.validate().is_err());
    }
}
