//! A signed distance field on a dense cubic grid: values at voxel centres, trilinear in between,
//! with the interpolant's value and gradient and their derivatives with respect to the eight
//! corner values (what the fit's backward pass scatters into).

use hounsfield_core::{Error, Geometry, Result, Volume};

/// A cube of `n^3` SDF samples (mm, positive outside) at voxel centres `origin + h * index`.
#[derive(Clone, Debug, PartialEq)]
pub struct SdfGrid {
    /// Samples per side.
    pub n: usize,
    /// Centre of voxel (0, 0, 0), mm.
    pub origin: [f64; 3],
    /// Voxel side, mm.
    pub h: f64,
    /// `n^3` values, x fastest.
    pub values: Vec<f32>,
}

/// Where a point falls in the grid: the eight corners and the trilinear weights of the value
/// and of each gradient component there.
#[derive(Clone, Copy, Debug)]
pub struct Stencil {
    /// Flat indices of the corners, bit k of the corner number set = upper neighbour along axis k.
    pub index: [u32; 8],
    /// Weights of the value.
    pub value: [f64; 8],
    /// Weights of d/dx, d/dy, d/dz (1/mm).
    pub gradient: [[f64; 8]; 3],
}

impl SdfGrid {
    /// A grid over the cube of side `2 half_extent` about `centre` with `n` voxels per side,
    /// filled with `f(point)`.
    pub fn from_fn(
        centre: [f64; 3],
        half_extent: f64,
        n: usize,
        f: impl Fn([f64; 3]) -> f64 + Sync,
    ) -> Result<Self> {
        if !(4..=512).contains(&n) {
            return Err(Error::param("grid resolution", format!("{n} (4..=512)")));
        }
        if !(half_extent > 0.0 && half_extent.is_finite()) {
            return Err(Error::param("half_extent", format!("{half_extent}")));
        }
        let h = 2.0 * half_extent / n as f64;
        let origin = centre.map(|c| c - half_extent + h / 2.0);
        let values = (0..n * n * n)
            .map(|k| {
                let p = [
                    origin[0] + h * (k % n) as f64,
                    origin[1] + h * ((k / n) % n) as f64,
                    origin[2] + h * (k / (n * n)) as f64,
                ];
                f(p) as f32
            })
            .collect();
        Ok(SdfGrid { n, origin, h, values })
    }

    /// The centre of the grid's cube and half its side.
    pub fn cube(&self) -> ([f64; 3], f64) {
        let half = self.h * self.n as f64 / 2.0;
        (self.origin.map(|o| o - self.h / 2.0 + half), half)
    }

    /// Lowest and highest voxel centre along each axis (the region trilinear interpolation
    /// covers).
    pub fn bounds(&self) -> ([f64; 3], [f64; 3]) {
        let top = self.h * (self.n - 1) as f64;
        (self.origin, self.origin.map(|o| o + top))
    }

    /// The stencil at `p` (clamped into the grid).
    pub fn stencil(&self, p: [f64; 3]) -> Stencil {
        let n = self.n;
        let mut base = [0usize; 3];
        let mut frac = [0.0f64; 3];
        for k in 0..3 {
            let q = ((p[k] - self.origin[k]) / self.h).clamp(0.0, (n - 1) as f64);
            let i = (q.floor() as usize).min(n - 2);
            base[k] = i;
            frac[k] = q - i as f64;
        }
        let mut s = Stencil { index: [0; 8], value: [0.0; 8], gradient: [[0.0; 8]; 3] };
        for c in 0..8 {
            let bit = |k: usize| (c >> k) & 1;
            let w = |k: usize| if bit(k) == 1 { frac[k] } else { 1.0 - frac[k] };
            let dw = |k: usize| if bit(k) == 1 { 1.0 / self.h } else { -1.0 / self.h };
            s.index[c] =
                (((base[2] + bit(2)) * n + base[1] + bit(1)) * n + base[0] + bit(0)) as u32;
            s.value[c] = w(0) * w(1) * w(2);
            s.gradient[0][c] = dw(0) * w(1) * w(2);
            s.gradient[1][c] = w(0) * dw(1) * w(2);
            s.gradient[2][c] = w(0) * w(1) * dw(2);
        }
        s
    }

    /// Value and gradient at `p`.
    pub fn eval(&self, p: [f64; 3]) -> (f64, [f64; 3]) {
        let s = self.stencil(p);
        let mut f = 0.0;
        let mut g = [0.0; 3];
        for c in 0..8 {
            let v = f64::from(self.values[s.index[c] as usize]);
            f += s.value[c] * v;
            for (gk, sk) in g.iter_mut().zip(&s.gradient) {
                *gk += sk[c] * v;
            }
        }
        (f, g)
    }

    /// Value at `p`.
    pub fn value(&self, p: [f64; 3]) -> f64 {
        let s = self.stencil(p);
        (0..8).map(|c| s.value[c] * f64::from(self.values[s.index[c] as usize])).sum()
    }

    /// The same field on a grid of `n` voxels per side over the same cube (trilinear).
    pub fn resampled(&self, n: usize) -> Result<SdfGrid> {
        let (centre, half) = self.cube();
        SdfGrid::from_fn(centre, half, n, |p| self.value(p))
    }

    /// The field as a volume (for marching cubes): negated, so the inside is positive and the
    /// surface is the level 0 of values >= 0.
    pub fn to_inside_positive(&self) -> Result<Volume<f32>> {
        let g = Geometry::axis_aligned([self.h; 3], self.origin)?;
        let n = self.n;
        Volume::from_vec([n; 3], self.values.iter().map(|v| -v).collect(), g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trilinear_interpolation_is_exact_for_linear_fields() {
        let f = |p: [f64; 3]| 2.0 * p[0] - 3.0 * p[1] + 0.5 * p[2] + 1.0;
        let g = SdfGrid::from_fn([1.0, 2.0, 3.0], 4.0, 8, f).expect("grid");
        for p in [[0.3, 1.1, 2.2], [-2.0, 4.4, 5.9], [3.4, -0.6, 0.0]] {
            let (v, d) = g.eval(p);
            assert!((v - f(p)).abs() < 1e-5, "{v} vs {}", f(p));
            assert!(
                (d[0] - 2.0).abs() < 1e-5 && (d[1] + 3.0).abs() < 1e-5 && (d[2] - 0.5).abs() < 1e-5
            );
        }
        let (c, half) = g.cube();
        assert!(
            (half - 4.0).abs() < 1e-12
                && c.iter().zip([1.0, 2.0, 3.0]).all(|(a, b)| (a - b).abs() < 1e-12)
        );
        let fine = g.resampled(16).expect("resampled");
        assert!((fine.value([0.3, 1.1, 2.2]) - f([0.3, 1.1, 2.2])).abs() < 1e-4);
    }
}
