//! Analytic phantoms: sums of constant-density ellipses (2D) or ellipsoids (3D), with exact line
//! integrals for any geometry so that test and training data avoid the inverse crime (projecting
//! with the same discrete model that reconstructs).

use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Error, Result};
use ndarray::{ArrayD, Axis, IxDyn};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::geometry::{ImageGrid, Ray, ScanGeometry, Vec3, dot, sub};

/// A constant-density ellipsoid; in a 2D phantom its `z` semi-axis is ignored (an infinite
/// cylinder, whose section by the plane `z = 0` is the ellipse).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ellipsoid {
    /// Centre, world mm.
    pub centre: Vec3,
    /// Semi-axes along the body axes, mm.
    pub axes: Vec3,
    /// Rows are the body axes in world coordinates (a rotation matrix).
    pub rotation: [[f64; 3]; 3],
    /// Value added inside (attenuation, 1/mm or any unit).
    pub density: f64,
}

impl Ellipsoid {
    /// An ellipse in the `z = 0` plane, its first axis at `angle` radians from `+x`.
    pub fn ellipse(centre: [f64; 2], axes: [f64; 2], angle: f64, density: f64) -> Self {
        let (s, c) = angle.sin_cos();
        Ellipsoid {
            centre: [centre[0], centre[1], 0.0],
            axes: [axes[0], axes[1], 1.0],
            rotation: [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
            density,
        }
    }

    /// An ellipsoid rotated by the z-x-z Euler angles `(phi, theta, psi)` in radians (the
    /// convention of the 3D Shepp-Logan tables).
    pub fn euler(centre: Vec3, axes: Vec3, [phi, theta, psi]: [f64; 3], density: f64) -> Self {
        let (sf, cf) = phi.sin_cos();
        let (st, ct) = theta.sin_cos();
        let (sp, cp) = psi.sin_cos();
        let rotation = [
            [cp * cf - ct * sf * sp, cp * sf + ct * cf * sp, sp * st],
            [-sp * cf - ct * sf * cp, -sp * sf + ct * cf * cp, cp * st],
            [st * sf, -st * cf, ct],
        ];
        Ellipsoid { centre, axes, rotation, density }
    }

    /// `(q, e)`: a world point and direction in body coordinates scaled to the unit sphere.
    fn in_unit_frame(&self, p: Vec3, d: Vec3, planar: bool) -> (Vec3, Vec3) {
        let rel = sub(p, self.centre);
        let n = if planar { 2 } else { 3 };
        let mut q = [0.0; 3];
        let mut e = [0.0; 3];
        for k in 0..n {
            q[k] = dot(self.rotation[k], rel) / self.axes[k];
            e[k] = dot(self.rotation[k], d) / self.axes[k];
        }
        (q, e)
    }

    /// Length (mm) of the ray inside the ellipsoid.
    fn chord(&self, ray: &Ray, planar: bool) -> f64 {
        let (q, e) = self.in_unit_frame(ray.origin, ray.dir, planar);
        let a = dot(e, e);
        if a == 0.0 {
            return 0.0;
        }
        let b = dot(q, e);
        let disc = b * b - a * (dot(q, q) - 1.0);
        if disc <= 0.0 {
            return 0.0;
        }
        let root = disc.sqrt();
        let enter = ((-b - root) / a).max(ray.t_min);
        let leave = (-b + root) / a;
        (leave - enter).max(0.0)
    }

    fn contains(&self, p: Vec3, planar: bool) -> bool {
        let (q, _) = self.in_unit_frame(p, [0.0; 3], planar);
        dot(q, q) <= 1.0
    }

    /// Half-extent of the bounding box along each world axis.
    fn half_extent(&self) -> Vec3 {
        std::array::from_fn(|i| {
            (0..3).map(|k| (self.rotation[k][i] * self.axes[k]).powi(2)).sum::<f64>().sqrt()
        })
    }
}

/// A phantom: the sum of its ellipses or ellipsoids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phantom {
    /// 2 (ellipses, `z` ignored) or 3 (ellipsoids).
    pub dims: usize,
    /// The shapes; densities add where they overlap.
    pub shapes: Vec<Ellipsoid>,
}

/// Modified Shepp-Logan (Toft 1996): value, semi-axes `a, b`, centre `x, y`, angle in degrees.
/// `y` and the angles are mirrored from the published table so that the phantom, displayed with
/// row 0 at the top, looks as in MATLAB and scikit-image.
const SHEPP_LOGAN_2D: [[f64; 6]; 10] = [
    [1.0, 0.69, 0.92, 0.0, 0.0, 0.0],
    [-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0],
    [-0.2, 0.11, 0.31, 0.22, 0.0, -18.0],
    [-0.2, 0.16, 0.41, -0.22, 0.0, 18.0],
    [0.1, 0.21, 0.25, 0.0, 0.35, 0.0],
    [0.1, 0.046, 0.046, 0.0, 0.1, 0.0],
    [0.1, 0.046, 0.046, 0.0, -0.1, 0.0],
    [0.1, 0.046, 0.023, -0.08, -0.605, 0.0],
    [0.1, 0.023, 0.023, 0.0, -0.606, 0.0],
    [0.1, 0.023, 0.046, 0.06, -0.605, 0.0],
];

/// Modified 3D Shepp-Logan (as in `phantom3d`): value, semi-axes `a, b, c`, centre `x, y, z`,
/// Euler angles `phi, theta, psi` in degrees; `y` mirrored as in 2D.
const SHEPP_LOGAN_3D: [[f64; 10]; 10] = [
    [1.0, 0.69, 0.92, 0.81, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [-0.8, 0.6624, 0.874, 0.78, 0.0, -0.0184, 0.0, 0.0, 0.0, 0.0],
    [-0.2, 0.11, 0.31, 0.22, 0.22, 0.0, 0.0, -18.0, 0.0, 10.0],
    [-0.2, 0.16, 0.41, 0.28, -0.22, 0.0, 0.0, 18.0, 0.0, 10.0],
    [0.1, 0.21, 0.25, 0.41, 0.0, 0.35, -0.15, 0.0, 0.0, 0.0],
    [0.1, 0.046, 0.046, 0.05, 0.0, 0.1, 0.25, 0.0, 0.0, 0.0],
    [0.1, 0.046, 0.046, 0.05, 0.0, -0.1, 0.25, 0.0, 0.0, 0.0],
    [0.1, 0.046, 0.023, 0.05, -0.08, -0.605, 0.0, 0.0, 0.0, 0.0],
    [0.1, 0.023, 0.023, 0.02, 0.0, -0.606, 0.0, 0.0, 0.0, 0.0],
    [0.1, 0.023, 0.046, 0.02, 0.06, -0.605, 0.0, 0.0, 0.0, 0.0],
];

impl Phantom {
    /// The modified 2D Shepp-Logan phantom scaled so that its unit square spans
    /// `[-radius, radius]` mm (values 0 to 1).
    pub fn shepp_logan_2d(radius: f64) -> Self {
        let shapes = SHEPP_LOGAN_2D
            .iter()
            .map(|&[v, a, b, x, y, deg]| {
                Ellipsoid::ellipse(
                    [x * radius, -y * radius],
                    [a * radius, b * radius],
                    -deg.to_radians(),
                    v,
                )
            })
            .collect();
        Phantom { dims: 2, shapes }
    }

    /// The modified 3D Shepp-Logan phantom in the cube `[-radius, radius]^3` mm.
    pub fn shepp_logan_3d(radius: f64) -> Self {
        let shapes = SHEPP_LOGAN_3D
            .iter()
            .map(|&[v, a, b, c, x, y, z, phi, theta, psi]| {
                Ellipsoid::euler(
                    [x * radius, -y * radius, z * radius],
                    [a * radius, b * radius, c * radius],
                    [-phi.to_radians(), theta.to_radians(), psi.to_radians()],
                    v,
                )
            })
            .collect();
        Phantom { dims: 3, shapes }
    }

    /// `count` random ellipses (`dims = 2`) or ellipsoids (`dims = 3`) inside the disc or ball
    /// of `radius` mm: semi-axes 5-40% of the radius, densities 0.05-0.5, any orientation, the
    /// same for the same `seed`. Training data for learned reconstruction.
    pub fn random(dims: usize, count: usize, radius: f64, seed: u64) -> Result<Self> {
        if !matches!(dims, 2 | 3) {
            return Err(Error::param("dims", format!("must be 2 or 3, found {dims}")));
        }
        if !(radius.is_finite() && radius > 0.0) {
            return Err(Error::param("radius", format!("must be finite and > 0, found {radius}")));
        }
        if count > 100_000 {
            return Err(Error::param("count", format!("at most 100000 shapes, found {count}")));
        }
        let mut rng = SplitMix64::new(seed);
        let mut shapes = Vec::with_capacity(count);
        for _ in 0..count {
            let axes: Vec3 = std::array::from_fn(|_| rng.uniform(0.05, 0.4) * radius);
            let reach = 0.9 * radius - axes.iter().take(dims).cloned().fold(0.0, f64::max);
            let centre = loop {
                let c: Vec3 = std::array::from_fn(|k| {
                    if k < dims { rng.uniform(-1.0, 1.0) * reach.max(0.0) } else { 0.0 }
                });
                if dot(c, c) <= reach.max(0.0).powi(2) {
                    break c;
                }
            };
            let density = rng.uniform(0.05, 0.5);
            let tau = std::f64::consts::TAU;
            shapes.push(if dims == 2 {
                Ellipsoid::ellipse(
                    [centre[0], centre[1]],
                    [axes[0], axes[1]],
                    rng.uniform(0.0, tau),
                    density,
                )
            } else {
                let angles = [rng.uniform(0.0, tau), rng.uniform(0.0, tau), rng.uniform(0.0, tau)];
                Ellipsoid::euler(centre, axes, angles, density)
            });
        }
        Ok(Phantom { dims, shapes })
    }

    /// A random head in the ball of `radius` mm: the 3D Shepp-Logan's skull shell (density 1)
    /// and intracranial space (-0.8 added: 0.2 inside), scaled 0.85-1.05 per axis, turned
    /// +-0.3 rad about z, moved +-5% of `radius` in x and y, the shell 2.5-6% of `radius` thick;
    /// inside it `blobs` random soft-tissue ellipsoids (-0.15 to +0.3 around the brain) in the
    /// central half. The Shepp-Logan layout with random anatomy, the same for the same `seed`:
    /// shapes 0 and 1 are the shell's outer and inner ellipsoids.
    pub fn random_head(radius: f64, blobs: usize, seed: u64) -> Result<Self> {
        if !(radius.is_finite() && radius > 0.0) {
            return Err(Error::param("radius", format!("must be finite and > 0, found {radius}")));
        }
        // Blobs add up where they overlap: beyond a few hundred, "soft tissue" outweighs bone.
        if blobs > 1000 {
            return Err(Error::param("blobs", format!("at most 1000 in a head, found {blobs}")));
        }
        let mut rng = SplitMix64::new(seed);
        let sl = Self::shepp_logan_3d(radius);
        let scale: Vec3 = std::array::from_fn(|_| rng.uniform(0.85, 1.05));
        let angle = rng.uniform(-0.3, 0.3);
        let outer_axes: Vec3 = std::array::from_fn(|k| sl.shapes[0].axes[k] * scale[k]);
        let thickness = rng.uniform(0.025, 0.06) * radius;
        let inner_axes = outer_axes.map(|a| a - thickness);
        let centre = [rng.uniform(-0.05, 0.05) * radius, rng.uniform(-0.05, 0.05) * radius, 0.0];
        let mut shapes = vec![
            Ellipsoid::euler(centre, outer_axes, [angle, 0.0, 0.0], 1.0),
            Ellipsoid::euler(centre, inner_axes, [angle, 0.0, 0.0], -0.8),
        ];
        for mut blob in Self::random(3, blobs, 0.5 * radius, seed ^ 0xb10b)?.shapes {
            // Densities 0.05..0.5 become -0.15..+0.3 around the brain's 0.2.
            blob.density -= 0.15;
            blob.centre = std::array::from_fn(|k| blob.centre[k] + centre[k]);
            shapes.push(blob);
        }
        Ok(Phantom { dims: 3, shapes })
    }

    /// Checks that every shape has finite values and positive semi-axes.
    pub fn validate(&self) -> Result<()> {
        if !matches!(self.dims, 2 | 3) {
            return Err(Error::param("dims", format!("must be 2 or 3, found {}", self.dims)));
        }
        for (k, s) in self.shapes.iter().enumerate() {
            let finite = s.centre.iter().chain(&s.axes).chain(s.rotation.iter().flatten());
            if finite.clone().any(|v| !v.is_finite()) || !s.density.is_finite() {
                return Err(Error::param("phantom", format!("shape {k} has a non-finite value")));
            }
            if s.axes.iter().take(self.dims).any(|&a| a <= 0.0) {
                return Err(Error::param("phantom", format!("shape {k} has a semi-axis <= 0")));
            }
        }
        Ok(())
    }

    /// The exact line integral along `ray`.
    pub fn line_integral(&self, ray: &Ray) -> f64 {
        let planar = self.dims == 2;
        self.shapes.iter().map(|s| s.density * s.chord(ray, planar)).sum()
    }

    /// The value at world point `p`.
    pub fn value_at(&self, p: Vec3) -> f64 {
        let planar = self.dims == 2;
        self.shapes.iter().filter(|s| s.contains(p, planar)).map(|s| s.density).sum()
    }

    /// Analytic projections for `geometry` (shape [`ScanGeometry::projection_shape`]): each
    /// pixel is the mean of `supersample^2` exact line integrals spread over its area (one per
    /// axis in 2D), `supersample = 1` being the ray through its centre.
    pub fn project(&self, geometry: &ScanGeometry, supersample: usize) -> Result<ArrayD<f32>> {
        self.validate()?;
        geometry.validate()?;
        if self.dims != geometry.dims() {
            return Err(Error::param(
                "phantom",
                format!("a {}D phantom for a {}D geometry", self.dims, geometry.dims()),
            ));
        }
        let s = supersample.clamp(1, 16);
        let (rows, cols) = geometry.detector_shape();
        let frames = geometry.frames();
        let mut out = ArrayD::<f32>::zeros(IxDyn(&geometry.projection_shape()));
        let sub_rows = if geometry.dims() == 2 { 1 } else { s };
        let offsets =
            |n: usize| -> Vec<f64> { (0..n).map(|k| (k as f64 + 0.5) / n as f64 - 0.5).collect() };
        let (du, dv) = (offsets(s), offsets(sub_rows));
        out.axis_iter_mut(Axis(0)).into_par_iter().zip(&frames).for_each(|(mut view, frame)| {
            for (k, value) in view.iter_mut().enumerate() {
                let (r, c) = (k / cols, k % cols);
                let mut sum = 0.0;
                for &a in &dv {
                    for &b in &du {
                        let ray = frame.ray(rows, cols, r as f64 + a, c as f64 + b);
                        sum += self.line_integral(&ray);
                    }
                }
                *value = (sum / (du.len() * dv.len()) as f64) as f32;
            }
        });
        Ok(out)
    }

    /// The phantom sampled on `grid` (shape `[ny, nx]` for a 2D phantom, `[nz, ny, nx]` for 3D):
    /// each voxel is the mean over `supersample` points per axis, so edges get partial values
    /// as a detector's pixels would. A 2D phantom needs `nz = 1`.
    pub fn rasterize(&self, grid: &ImageGrid, supersample: usize) -> Result<ArrayD<f32>> {
        self.validate()?;
        grid.validate()?;
        let [nz, ny, nx] = grid.shape;
        let planar = self.dims == 2;
        if planar && nz != 1 {
            return Err(Error::param("image grid", "a 2D phantom needs nz = 1"));
        }
        let s = supersample.clamp(1, 16);
        let sz = if planar { 1 } else { s };
        let first = grid.first_voxel();
        let sp = grid.spacing;
        let frac = |k: usize, n: usize| (k as f64 + 0.5) / n as f64 - 0.5;
        let weight = 1.0 / (s * s * sz) as f64;
        let mut out = ndarray::Array3::<f64>::zeros((nz, ny, nx));
        for shape in &self.shapes {
            // Only voxels within the shape's bounding box (plus one voxel) can change.
            let ext = shape.half_extent();
            let range = |a: usize, n: usize| -> (usize, usize) {
                if planar && a == 2 {
                    return (0, 1);
                }
                let lo = ((shape.centre[a] - ext[a] - first[a]) / sp[a]).floor() - 1.0;
                let hi = ((shape.centre[a] + ext[a] - first[a]) / sp[a]).ceil() + 1.0;
                (lo.clamp(0.0, n as f64) as usize, (hi + 1.0).clamp(0.0, n as f64) as usize)
            };
            let (x0, x1) = range(0, nx);
            let (y0, y1) = range(1, ny);
            let (z0, z1) = range(2, nz);
            out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(iz, mut plane)| {
                if iz < z0 || iz >= z1 {
                    return;
                }
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let mut hits = 0usize;
                        for a in 0..sz {
                            for b in 0..s {
                                for c in 0..s {
                                    let p = [
                                        first[0] + (ix as f64 + frac(c, s)) * sp[0],
                                        first[1] + (iy as f64 + frac(b, s)) * sp[1],
                                        if planar {
                                            0.0
                                        } else {
                                            first[2] + (iz as f64 + frac(a, sz)) * sp[2]
                                        },
                                    ];
                                    hits += usize::from(shape.contains(p, planar));
                                }
                            }
                        }
                        plane[[iy, ix]] += shape.density * hits as f64 * weight;
                    }
                }
            });
        }
        let shape = if planar { vec![ny, nx] } else { vec![nz, ny, nx] };
        out.mapv(|v| v as f32)
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| Error::InvalidGeometry(e.to_string()))
    }
}
