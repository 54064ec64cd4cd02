//! Solids described by signed distance functions (negative inside): primitives, their unions,
//! intersections and differences, meshed by marching cubes on a sampled grid. Test objects
//! whose surfaces are known exactly (the zero level of the distance), for surface
//! reconstruction and shape networks.
//!
//! Primitives have exact distances; unions, intersections and differences have the exact zero
//! level and distances that bound the true ones (Hart 1996), which is what meshing needs.

use hounsfield_core::{Error, Geometry, Result, Volume};

use crate::isosurface::{IsoOptions, isosurface};
use crate::mesh::TriMesh;
use crate::vec3::{V3, dot, norm, sub};

/// A solid as a signed distance function (mm, negative inside).
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// A ball.
    Sphere {
        /// Centre, mm.
        centre: V3,
        /// Radius, mm.
        radius: f64,
    },
    /// An axis-aligned box with rounded edges (`rounding` 0: sharp).
    Box {
        /// Centre, mm.
        centre: V3,
        /// Half sizes along x, y, z, mm.
        half: V3,
        /// Edge radius, mm (taken from the half sizes).
        rounding: f64,
    },
    /// A torus about `axis` (a unit vector).
    Torus {
        /// Centre, mm.
        centre: V3,
        /// Unit axis.
        axis: V3,
        /// Distance from the centre to the tube's centre line, mm.
        major: f64,
        /// Tube radius, mm.
        minor: f64,
    },
    /// All points within `radius` of the segment `a`-`b`.
    Capsule {
        /// One end of the segment.
        a: V3,
        /// The other end.
        b: V3,
        /// Radius, mm.
        radius: f64,
    },
    /// A solid cylinder from `a` to `b` (flat ends).
    Cylinder {
        /// Centre of one end.
        a: V3,
        /// Centre of the other end.
        b: V3,
        /// Radius, mm.
        radius: f64,
    },
    /// A superquadric (superellipsoid) with half sizes `half` along x, y, z: the points where
    /// `(|x/a|^(2/e2) + |y/b|^(2/e2))^(e2/e1) + |z/c|^(2/e1) <= 1`. `e1` shapes the profile
    /// along z and `e2` the cross-section (1, 1: an ellipsoid; towards 0: a box; 2: a
    /// diamond). Its zero level and sign are exact; its distance is the radial (Jaklič et al.
    /// 2000) one, exact along rays from the centre and an approximation elsewhere.
    Superquadric {
        /// Centre, mm.
        centre: V3,
        /// Half sizes along x, y, z, mm.
        half: V3,
        /// The exponent along z, in (0, 2].
        e1: f64,
        /// The exponent in the x-y cross-section, in (0, 2].
        e2: f64,
    },
    /// `shape` turned by `rotation` (its columns are the shape's x, y, z axes in the world),
    /// scaled by `scale` about the origin and then moved by `translation`: world point
    /// `p = translation + scale * rotation * q` for a point `q` of `shape`. Exact distances
    /// stay exact.
    Transformed {
        /// The shape in its own frame.
        shape: Box<Shape>,
        /// A proper rotation.
        rotation: [[f64; 3]; 3],
        /// A uniform scale, > 0.
        scale: f64,
        /// Where the shape's origin goes, mm.
        translation: V3,
    },
    /// Points in any of the parts.
    Union(Vec<Shape>),
    /// Points in all of the parts.
    Intersection(Vec<Shape>),
    /// Points in the first shape and not in the second.
    Difference(Box<Shape>, Box<Shape>),
}

impl Shape {
    /// Signed distance from `p` (negative inside).
    pub fn distance(&self, p: V3) -> f64 {
        match self {
            Shape::Sphere { centre, radius } => norm(sub(p, *centre)) - radius,
            Shape::Box { centre, half, rounding } => {
                let q: V3 =
                    std::array::from_fn(|k| (p[k] - centre[k]).abs() - (half[k] - rounding));
                let outside = norm(q.map(|v| v.max(0.0)));
                outside + q[0].max(q[1]).max(q[2]).min(0.0) - rounding
            }
            Shape::Torus { centre, axis, major, minor } => {
                let d = sub(p, *centre);
                let along = dot(d, *axis);
                let radial = (dot(d, d) - along * along).max(0.0).sqrt();
                ((radial - major).powi(2) + along * along).sqrt() - minor
            }
            Shape::Capsule { a, b, radius } => {
                let (ab, ap) = (sub(*b, *a), sub(p, *a));
                let t = (dot(ap, ab) / dot(ab, ab).max(1e-30)).clamp(0.0, 1.0);
                norm(std::array::from_fn(|k| ap[k] - t * ab[k])) - radius
            }
            Shape::Cylinder { a, b, radius } => {
                let ab = sub(*b, *a);
                let len = norm(ab).max(1e-30);
                let axis = ab.map(|v| v / len);
                let ap = sub(p, *a);
                let along = dot(ap, axis);
                let radial = (dot(ap, ap) - along * along).max(0.0).sqrt();
                let dr = radial - radius;
                let dz = (along - len / 2.0).abs() - len / 2.0;
                dr.max(dz).min(0.0) + norm([dr.max(0.0), dz.max(0.0), 0.0])
            }
            Shape::Superquadric { centre, half, e1, e2 } => {
                let q: V3 = std::array::from_fn(|k| (p[k] - centre[k]) / half[k]);
                let r = norm(std::array::from_fn(|k| p[k] - centre[k]));
                let xy = q[0].abs().powf(2.0 / e2) + q[1].abs().powf(2.0 / e2);
                let f = xy.powf(e2 / e1) + q[2].abs().powf(2.0 / e1);
                if f <= 0.0 {
                    return -half.iter().copied().fold(f64::INFINITY, f64::min);
                }
                // On the ray from the centre through p the surface lies at r f^(-e1/2).
                r * (1.0 - f.powf(-e1 / 2.0))
            }
            Shape::Transformed { shape, rotation, scale, translation } => {
                let d = sub(p, *translation);
                let q: V3 = std::array::from_fn(|c| {
                    (0..3).map(|r| rotation[r][c] * d[r]).sum::<f64>() / scale
                });
                scale * shape.distance(q)
            }
            Shape::Union(parts) => {
                parts.iter().map(|s| s.distance(p)).fold(f64::INFINITY, f64::min)
            }
            Shape::Intersection(parts) => {
                parts.iter().map(|s| s.distance(p)).fold(f64::NEG_INFINITY, f64::max)
            }
            Shape::Difference(a, b) => a.distance(p).max(-b.distance(p)),
        }
    }

    /// A box `(lowest, highest)` that contains the solid.
    pub fn bounds(&self) -> (V3, V3) {
        let ball = |c: V3, r: f64| (c.map(|v| v - r), c.map(|v| v + r));
        let hull = |(a, b): (V3, V3), (c, d): (V3, V3)| -> (V3, V3) {
            (std::array::from_fn(|k| a[k].min(c[k])), std::array::from_fn(|k| b[k].max(d[k])))
        };
        match self {
            Shape::Sphere { centre, radius } => ball(*centre, *radius),
            Shape::Box { centre, half, .. } => (
                std::array::from_fn(|k| centre[k] - half[k]),
                std::array::from_fn(|k| centre[k] + half[k]),
            ),
            Shape::Torus { centre, major, minor, .. } => ball(*centre, major + minor),
            Shape::Capsule { a, b, radius } => hull(ball(*a, *radius), ball(*b, *radius)),
            Shape::Cylinder { a, b, radius } => {
                // The end discs' extents: r sqrt(1 - axis_k^2) along each axis.
                let ab = sub(*b, *a);
                let len = norm(ab).max(1e-30);
                let reach: V3 =
                    std::array::from_fn(|k| radius * (1.0 - (ab[k] / len).powi(2)).max(0.0).sqrt());
                (
                    std::array::from_fn(|k| a[k].min(b[k]) - reach[k]),
                    std::array::from_fn(|k| a[k].max(b[k]) + reach[k]),
                )
            }
            Shape::Superquadric { centre, half, .. } => (
                std::array::from_fn(|k| centre[k] - half[k]),
                std::array::from_fn(|k| centre[k] + half[k]),
            ),
            Shape::Transformed { shape, rotation, scale, translation } => {
                // The box around the eight corners of the shape's own box, carried over.
                let (lo, hi) = shape.bounds();
                let corners = (0..8).map(|i| {
                    let q: V3 =
                        std::array::from_fn(|k| if i >> k & 1 == 0 { lo[k] } else { hi[k] });
                    let p: V3 = std::array::from_fn(|r| {
                        translation[r] + scale * (0..3).map(|c| rotation[r][c] * q[c]).sum::<f64>()
                    });
                    (p, p)
                });
                corners.reduce(hull).unwrap_or(([0.0; 3], [0.0; 3]))
            }
            Shape::Union(parts) => {
                parts.iter().map(Shape::bounds).reduce(hull).unwrap_or(([0.0; 3], [0.0; 3]))
            }
            Shape::Intersection(parts) => parts
                .iter()
                .map(Shape::bounds)
                .reduce(|(a, b), (c, d)| {
                    (
                        std::array::from_fn(|k| a[k].max(c[k])),
                        std::array::from_fn(|k| b[k].min(d[k])),
                    )
                })
                .unwrap_or(([0.0; 3], [0.0; 3])),
            Shape::Difference(a, _) => a.bounds(),
        }
    }

    /// The distance sampled on a grid of `voxel` mm covering the solid with two voxels to
    /// spare, negated (inside positive), ready for marching cubes at level 0.
    pub fn sample(&self, voxel: f64) -> Result<Volume<f32>> {
        let (lo, hi) = self.bounds();
        if !(voxel > 0.0 && voxel.is_finite()) || lo.iter().chain(&hi).any(|v| !v.is_finite()) {
            return Err(Error::param("shape", format!("voxel {voxel} mm, bounds {lo:?}..{hi:?}")));
        }
        let dims: [usize; 3] =
            std::array::from_fn(|k| ((hi[k] - lo[k]) / voxel).ceil() as usize + 5);
        if dims.iter().product::<usize>() > 1 << 27 {
            return Err(Error::TooLarge(format!("shape grid {dims:?} at {voxel} mm")));
        }
        let origin: V3 = std::array::from_fn(|k| lo[k] - 2.0 * voxel);
        let geometry = Geometry::axis_aligned([voxel; 3], origin)?;
        let [nx, ny, nz] = dims;
        let values = (0..nx * ny * nz)
            .map(|i| {
                let idx = [(i % nx) as f64, ((i / nx) % ny) as f64, (i / (nx * ny)) as f64];
                -self.distance(std::array::from_fn(|k| origin[k] + voxel * idx[k])) as f32
            })
            .collect();
        Volume::from_vec([nz, ny, nx], values, geometry)
    }

    /// The solid's surface: marching cubes of [`Shape::sample`] at level 0.
    pub fn mesh(&self, voxel: f64) -> Result<TriMesh> {
        let mesh = isosurface(&self.sample(voxel)?, 0.0, &IsoOptions::default())?;
        if mesh.is_empty() {
            return Err(Error::Empty(format!("shape with no surface at {voxel} mm")));
        }
        Ok(mesh)
    }
}

/// Ten solids with concavities that silhouettes from horizontal views cannot show but their
/// normals can (dents, notches, grooves, steps), about 40 mm across: the test set of surface
/// fitting. Names are stable; each is `(name, shape)`.
pub fn concave_suite() -> Vec<(&'static str, Shape)> {
    let sphere = |c: V3, r: f64| Shape::Sphere { centre: c, radius: r };
    let cuboid = |c: V3, h: V3| Shape::Box { centre: c, half: h, rounding: 1.0 };
    let diff = |a: Shape, b: Shape| Shape::Difference(Box::new(a), Box::new(b));
    let star = |points: usize, outer: f64, inner: f64, height: f64| {
        // A star prism as the intersection of half-spaces would be convex; as a union of
        // rotated thin boxes (the arms) it keeps its notches.
        Shape::Union(
            (0..points)
                .map(|i| {
                    let a = std::f64::consts::TAU * i as f64 / points as f64;
                    let tip = [outer * a.cos(), outer * a.sin(), 0.0];
                    Shape::Capsule { a: [0.0, 0.0, 0.0], b: tip, radius: inner }
                })
                .chain(std::iter::once(Shape::Cylinder {
                    a: [0.0, 0.0, -height],
                    b: [0.0, 0.0, height],
                    radius: inner * 1.6,
                }))
                .collect(),
        )
    };
    vec![
        ("dented_sphere", diff(sphere([0.0; 3], 18.0), sphere([0.0, -24.0, 0.0], 12.0))),
        (
            "dented_box",
            diff(
                diff(cuboid([0.0; 3], [16.0, 12.0, 14.0]), sphere([0.0, -18.0, 2.0], 9.0)),
                sphere([22.0, 0.0, -3.0], 10.0),
            ),
        ),
        (
            "crescent",
            diff(
                Shape::Cylinder { a: [0.0, 0.0, -14.0], b: [0.0, 0.0, 14.0], radius: 18.0 },
                Shape::Cylinder { a: [5.0, -9.0, -20.0], b: [5.0, -9.0, 20.0], radius: 11.0 },
            ),
        ),
        (
            "stairs",
            Shape::Union(vec![
                cuboid([0.0, -10.0, -12.0], [16.0, 6.0, 6.0]),
                cuboid([0.0, 0.0, -4.0], [16.0, 6.0, 12.0]),
                cuboid([0.0, 10.0, 4.0], [16.0, 6.0, 18.0]),
            ]),
        ),
        (
            "l_bracket",
            Shape::Union(vec![
                cuboid([-4.0, -8.0, 0.0], [16.0, 6.0, 14.0]),
                cuboid([-14.0, 6.0, 0.0], [6.0, 16.0, 14.0]),
            ]),
        ),
        ("star", star(5, 18.0, 5.0, 10.0)),
        (
            "dumbbell",
            Shape::Union(vec![
                sphere([-13.0, 0.0, 0.0], 9.0),
                sphere([13.0, 0.0, 0.0], 9.0),
                Shape::Capsule { a: [-13.0, 0.0, 0.0], b: [13.0, 0.0, 0.0], radius: 4.0 },
            ]),
        ),
        (
            "grooved_cylinder",
            diff(
                Shape::Cylinder { a: [0.0, 0.0, -16.0], b: [0.0, 0.0, 16.0], radius: 14.0 },
                Shape::Union(
                    [-8.0, 0.0, 8.0]
                        .iter()
                        .map(|&z| Shape::Torus {
                            centre: [0.0, 0.0, z],
                            axis: [0.0, 0.0, 1.0],
                            major: 16.0,
                            minor: 3.5,
                        })
                        .collect(),
                ),
            ),
        ),
        (
            "saddle_block",
            diff(
                cuboid([0.0; 3], [16.0, 14.0, 12.0]),
                Shape::Cylinder { a: [-30.0, -20.0, 12.0], b: [30.0, -20.0, 12.0], radius: 16.0 },
            ),
        ),
        (
            "bean",
            Shape::Union(vec![
                sphere([-10.0, 0.0, 0.0], 11.0),
                sphere([10.0, 0.0, 0.0], 11.0),
                sphere([0.0, 7.0, 0.0], 9.0),
            ]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitive_distances_are_exact() {
        let b = Shape::Box { centre: [1.0, 2.0, 3.0], half: [2.0, 3.0, 4.0], rounding: 0.0 };
        assert!((b.distance([1.0, 2.0, 3.0]) + 2.0).abs() < 1e-12);
        assert!((b.distance([6.0, 2.0, 3.0]) - 3.0).abs() < 1e-12);
        assert!((b.distance([6.0, 9.0, 3.0]) - 5.0).abs() < 1e-12);
        let t = Shape::Torus { centre: [0.0; 3], axis: [0.0, 0.0, 1.0], major: 10.0, minor: 2.0 };
        assert!((t.distance([10.0, 0.0, 0.0]) + 2.0).abs() < 1e-12);
        assert!((t.distance([0.0, 0.0, 0.0]) - 8.0).abs() < 1e-12);
        let c = Shape::Cylinder { a: [0.0, 0.0, -5.0], b: [0.0, 0.0, 5.0], radius: 3.0 };
        assert!((c.distance([0.0, 0.0, 0.0]) + 3.0).abs() < 1e-12);
        assert!((c.distance([0.0, 0.0, 7.0]) - 2.0).abs() < 1e-12);
        assert!((c.distance([7.0, 0.0, 9.0]) - 32f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn a_transformed_shape_keeps_exact_distances() {
        // A box turned 90 degrees about z (x -> y), doubled, moved to (10, 0, 0).
        let b = Shape::Box { centre: [0.0; 3], half: [2.0, 1.0, 1.0], rounding: 0.0 };
        let turn = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        let t = Shape::Transformed {
            shape: Box::new(b),
            rotation: turn,
            scale: 2.0,
            translation: [10.0, 0.0, 0.0],
        };
        // In the world: half sizes (2, 4, 2) mm around (10, 0, 0).
        assert!((t.distance([10.0, 0.0, 0.0]) + 2.0).abs() < 1e-12);
        assert!((t.distance([10.0, 7.0, 0.0]) - 3.0).abs() < 1e-12);
        assert!((t.distance([15.0, 0.0, 0.0]) - 3.0).abs() < 1e-12);
        let (lo, hi) = t.bounds();
        assert!(lo.iter().zip([8.0, -4.0, -2.0]).all(|(a, b)| (a - b).abs() < 1e-12), "{lo:?}");
        assert!(hi.iter().zip([12.0, 4.0, 2.0]).all(|(a, b)| (a - b).abs() < 1e-12), "{hi:?}");
    }

    #[test]
    fn superquadric_volumes_follow_the_beta_function_formula() {
        // V = 2 a b c e1 e2 B(e1/2 + 1, e1) B(e2/2, e2/2) (Jaklič et al. 2000). e1 = e2 = 1:
        // the ellipsoid, 4/3 pi a b c. e1 = e2 = 0.5, with Gamma(1/4) = 3.625609908221908,
        // Gamma(3/4) = 1.2254167024651776: B(1.25, 0.5) = Gamma(1.25) sqrt(pi) / Gamma(1.75)
        // and B(0.25, 0.25) = Gamma(0.25)^2 / sqrt(pi). Meshed at 0.25 mm: within 1%.
        let (a, b, c) = (6.0, 8.0, 10.0);
        let pi = std::f64::consts::PI;
        let (g14, g34) = (3.625_609_908_221_908, 1.225_416_702_465_177_6);
        let beta_1 = 0.25 * g14 * pi.sqrt() / (0.75 * g34);
        let beta_2 = g14 * g14 / pi.sqrt();
        for (e, exact) in
            [(1.0, 4.0 / 3.0 * pi * a * b * c), (0.5, 2.0 * a * b * c * 0.25 * beta_1 * beta_2)]
        {
            let s = Shape::Superquadric { centre: [1.0, 2.0, 3.0], half: [a, b, c], e1: e, e2: e };
            let v = s.mesh(0.25).expect("superquadric").stats().volume;
            assert!((v - exact).abs() < 0.01 * exact, "e {e}: {v} vs {exact}");
            // On the axes the radial distance is exact.
            assert!((s.distance([1.0 + a + 2.0, 2.0, 3.0]) - 2.0).abs() < 1e-9);
            assert!((s.distance([1.0, 2.0, 3.0 - c + 1.0]) + 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn the_suite_meshes_into_closed_concave_solids() {
        for (name, shape) in concave_suite() {
            let mesh = shape.mesh(1.0).expect(name);
            let stats = mesh.stats();
            assert!(stats.is_watertight() && stats.components == 1, "{name}: {stats:?}");
            let (lo, hi) = shape.bounds();
            let side = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f64::max);
            assert!(side > 25.0 && side < 60.0, "{name}: {side}");
        }
    }

    #[test]
    fn meshed_volumes_match_the_analytic_ones() {
        // Marching cubes at 0.5 mm of solids 20-30 mm across: volumes within 1%.
        let torus =
            Shape::Torus { centre: [1.0; 3], axis: [0.0, 0.6, 0.8], major: 10.0, minor: 4.0 };
        let exact = 2.0 * std::f64::consts::PI.powi(2) * 10.0 * 16.0;
        let v = torus.mesh(0.5).expect("torus").stats().volume;
        assert!((v - exact).abs() < 0.01 * exact, "torus {v} vs {exact}");
        // A 20 mm cube less the half ball of radius 6 centred on its top face.
        let cube = Shape::Box { centre: [0.0; 3], half: [10.0; 3], rounding: 0.0 };
        let ball = Shape::Sphere { centre: [0.0, 0.0, 10.0], radius: 6.0 };
        let dented = Shape::Difference(Box::new(cube), Box::new(ball));
        let exact = 8000.0 - 2.0 / 3.0 * std::f64::consts::PI * 216.0;
        let v = dented.mesh(0.5).expect("dented cube").stats().volume;
        assert!((v - exact).abs() < 0.01 * exact, "dented cube {v} vs {exact}");
    }
}
