//! A procedural family of shape classes with known surfaces, the data of the networks that learn
//! 3D shape from 2D images (no shape data set can be downloaded here). Each class is a
//! distribution of part layouts, as "chair" or "lamp" are in ShapeNet: parts (boxes,
//! cylinders, capsules, tori, superquadrics), their proportions, their number and which optional
//! parts appear are drawn at random; the shape is then turned to a random pose (any turn about
//! the vertical z axis, a tilt of up to 15 degrees) and fitted into the unit cube centred on
//! the origin (its box's longest side 0.9), as the 32^3 occupancy grids of 3D-R2N2 and Pix2Vox
//! cover their normalised objects.
//!
//! Every shape is an exact signed distance's zero level (superquadrics: exact level, radial
//! distance), so occupancy at any resolution and reference surfaces at any density come from
//! the same description. [`ShapeClass::TRAINED`] are the six classes to learn;
//! [`ShapeClass::HELD_OUT`] is never trained on, to see what a network does with a class it
//! has not seen.

use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Error, Geometry, Result, Volume};

use crate::shapes::Shape;
use crate::vec3::V3;

/// A class of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShapeClass {
    /// A seat on four legs with a back, sometimes arms.
    Chair,
    /// A rectangular or round top on four legs or a pedestal.
    Table,
    /// A base, a pole (straight or bent) and a shade (an open tube or a dome).
    Lamp,
    /// A hollow cylinder open at the top with a ring handle.
    Mug,
    /// A fuselage, wings, a tail plane and a fin, sometimes engines.
    Airplane,
    /// A superquadric body, a neck and a cap.
    Bottle,
    /// Two weights on a bar (held out of training).
    Dumbbell,
}

impl ShapeClass {
    /// The classes networks train on.
    pub const TRAINED: [ShapeClass; 6] = [
        ShapeClass::Chair,
        ShapeClass::Table,
        ShapeClass::Lamp,
        ShapeClass::Mug,
        ShapeClass::Airplane,
        ShapeClass::Bottle,
    ];
    /// The classes kept out of training.
    pub const HELD_OUT: [ShapeClass; 1] = [ShapeClass::Dumbbell];

    /// The class's name.
    pub fn name(self) -> &'static str {
        match self {
            ShapeClass::Chair => "chair",
            ShapeClass::Table => "table",
            ShapeClass::Lamp => "lamp",
            ShapeClass::Mug => "mug",
            ShapeClass::Airplane => "airplane",
            ShapeClass::Bottle => "bottle",
            ShapeClass::Dumbbell => "dumbbell",
        }
    }

    /// The class called `name`, if any.
    pub fn from_name(name: &str) -> Option<ShapeClass> {
        Self::TRAINED.into_iter().chain(Self::HELD_OUT).find(|c| c.name() == name)
    }

    /// Shape number `seed` of the class, posed and fitted into the unit cube. The same class
    /// and seed give the same shape.
    pub fn sample(self, seed: u64) -> Shape {
        // Decorrelate the streams of neighbouring seeds and of the classes.
        let mut rng = SplitMix64::new(seed ^ (self as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let parts = match self {
            ShapeClass::Chair => chair(&mut rng),
            ShapeClass::Table => table(&mut rng),
            ShapeClass::Lamp => lamp(&mut rng),
            ShapeClass::Mug => mug(&mut rng),
            ShapeClass::Airplane => airplane(&mut rng),
            ShapeClass::Bottle => bottle(&mut rng),
            ShapeClass::Dumbbell => dumbbell(&mut rng),
        };
        posed_in_unit_cube(parts, &mut rng)
    }
}

/// Longest side of a shape's box in the unit cube: a margin for the voxels around it.
pub const FITTED_SIDE: f64 = 0.9;

/// The occupancy of `shape` on an `n`^3 grid over the unit cube centred on the origin: 1 where
/// a voxel's centre is inside (distance < 0). The grid's voxels are `1/n` on a side, their
/// centres at `-0.5 + (i + 0.5) / n`; the geometry says so (LPS, unit = 1 mm).
pub fn occupancy(shape: &Shape, n: usize) -> Result<Volume<u8>> {
    if !(2..=512).contains(&n) {
        return Err(Error::param("occupancy resolution", format!("{n} (2..=512)")));
    }
    let voxel = 1.0 / n as f64;
    let first = -0.5 + voxel / 2.0;
    let geometry = Geometry::axis_aligned([voxel; 3], [first; 3])?;
    let values = (0..n * n * n)
        .map(|i| {
            let index = [i % n, (i / n) % n, i / (n * n)];
            u8::from(shape.distance(index.map(|k| first + k as f64 * voxel)) < 0.0)
        })
        .collect();
    Volume::from_vec([n; 3], values, geometry)
}

/// Rotation about z by `a` then about x by `b` and about y by `c` (radians).
fn rotation(a: f64, b: f64, c: f64) -> [[f64; 3]; 3] {
    let z = [[a.cos(), -a.sin(), 0.0], [a.sin(), a.cos(), 0.0], [0.0, 0.0, 1.0]];
    let x = [[1.0, 0.0, 0.0], [0.0, b.cos(), -b.sin()], [0.0, b.sin(), b.cos()]];
    let y = [[c.cos(), 0.0, c.sin()], [0.0, 1.0, 0.0], [-c.sin(), 0.0, c.cos()]];
    let mul = |p: [[f64; 3]; 3], q: [[f64; 3]; 3]| -> [[f64; 3]; 3] {
        std::array::from_fn(|r| std::array::from_fn(|k| (0..3).map(|j| p[r][j] * q[j][k]).sum()))
    };
    mul(y, mul(x, z))
}

/// `shape` at a random pose, then moved and scaled so that its box is centred on the origin
/// with its longest side [`FITTED_SIDE`].
fn posed_in_unit_cube(shape: Shape, rng: &mut SplitMix64) -> Shape {
    let tilt = 15f64.to_radians();
    let turn = rotation(
        rng.uniform(0.0, std::f64::consts::TAU),
        rng.uniform(-tilt, tilt),
        rng.uniform(-tilt, tilt),
    );
    let posed = Shape::Transformed {
        shape: Box::new(shape),
        rotation: turn,
        scale: 1.0,
        translation: [0.0; 3],
    };
    let (lo, hi) = posed.bounds();
    let side = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f64::max).max(1e-9);
    let scale = FITTED_SIDE / side;
    let centre: V3 = std::array::from_fn(|k| (lo[k] + hi[k]) / 2.0);
    Shape::Transformed {
        shape: Box::new(posed),
        rotation: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        scale,
        translation: centre.map(|c| -c * scale),
    }
}

fn cuboid(centre: V3, half: V3) -> Shape {
    let rounding = 0.15 * half.iter().copied().fold(f64::INFINITY, f64::min);
    Shape::Box { centre, half, rounding }
}

fn cylinder(a: V3, b: V3, radius: f64) -> Shape {
    Shape::Cylinder { a, b, radius }
}

fn capsule(a: V3, b: V3, radius: f64) -> Shape {
    Shape::Capsule { a, b, radius }
}

fn minus(a: Shape, b: Shape) -> Shape {
    Shape::Difference(Box::new(a), Box::new(b))
}

/// Seat at height `h`, back, four legs (round or square), arms on 40%.
fn chair(rng: &mut SplitMix64) -> Shape {
    let (w, d) = (rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2));
    let (t, h) = (rng.uniform(0.08, 0.15), rng.uniform(0.8, 1.1));
    let back = rng.uniform(0.7, 1.2);
    let mut parts = vec![
        cuboid([0.0, 0.0, h], [w / 2.0, d / 2.0, t / 2.0]),
        cuboid([0.0, d / 2.0 - t / 2.0, h + back / 2.0], [w / 2.0, t / 2.0, back / 2.0]),
    ];
    let leg = rng.uniform(0.04, 0.08);
    let inset = rng.uniform(0.05, 0.15);
    let round = rng.next_f64() < 0.5;
    for (sx, sy) in [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)] {
        let (x, y) = (sx * (w / 2.0 - inset), sy * (d / 2.0 - inset));
        parts.push(if round {
            cylinder([x, y, 0.0], [x, y, h], leg)
        } else {
            cuboid([x, y, h / 2.0], [leg, leg, h / 2.0])
        });
    }
    if rng.next_f64() < 0.4 {
        let arm = rng.uniform(0.2, 0.35);
        for sx in [-1.0, 1.0] {
            let x = sx * w / 2.0;
            parts.push(capsule([x, -d / 2.0 + 0.1, h + arm], [x, d / 2.0 - t, h + arm], 0.05));
            parts.push(cylinder([x, -d / 2.0 + 0.1, h], [x, -d / 2.0 + 0.1, h + arm], 0.04));
        }
    }
    Shape::Union(parts)
}

/// A top (box, or disc on 35%) on four legs (70%) or a pedestal with a foot.
fn table(rng: &mut SplitMix64) -> Shape {
    let h = rng.uniform(0.6, 1.0);
    let t = rng.uniform(0.06, 0.12);
    let round = rng.next_f64() < 0.35;
    let (w, d) = if round {
        let r = rng.uniform(0.5, 0.9);
        (2.0 * r, 2.0 * r)
    } else {
        (rng.uniform(1.2, 2.0), rng.uniform(0.7, 1.2))
    };
    let mut parts = vec![if round {
        cylinder([0.0, 0.0, h - t], [0.0, 0.0, h], w / 2.0)
    } else {
        cuboid([0.0, 0.0, h - t / 2.0], [w / 2.0, d / 2.0, t / 2.0])
    }];
    if rng.next_f64() < 0.7 {
        let leg = rng.uniform(0.03, 0.07);
        // Round tops keep their legs inside the disc.
        let reach = if round { w / 2.0 * 0.6 } else { 1.0 };
        for (sx, sy) in [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)] {
            let (x, y) = if round {
                (
                    sx * reach * std::f64::consts::FRAC_1_SQRT_2,
                    sy * reach * std::f64::consts::FRAC_1_SQRT_2,
                )
            } else {
                (sx * (w / 2.0 - 0.1), sy * (d / 2.0 - 0.1))
            };
            parts.push(cylinder([x, y, 0.0], [x, y, h - t], leg));
        }
    } else {
        parts.push(cylinder([0.0, 0.0, 0.05], [0.0, 0.0, h - t], rng.uniform(0.06, 0.12)));
        parts.push(cylinder([0.0, 0.0, 0.0], [0.0, 0.0, 0.05], rng.uniform(0.25, 0.4)));
    }
    Shape::Union(parts)
}

/// A base, a pole (bent on 40%) and a shade: an open tube (60%) or a dome.
fn lamp(rng: &mut SplitMix64) -> Shape {
    let base_r = rng.uniform(0.25, 0.45);
    let base_h = rng.uniform(0.05, 0.1);
    let pole = rng.uniform(1.0, 1.6);
    let mut parts = vec![
        cylinder([0.0, 0.0, 0.0], [0.0, 0.0, base_h], base_r),
        capsule([0.0, 0.0, base_h], [0.0, 0.0, pole], rng.uniform(0.03, 0.05)),
    ];
    let mut top = [0.0, 0.0, pole];
    if rng.next_f64() < 0.4 {
        let reach = rng.uniform(0.3, 0.6);
        let end = [reach, 0.0, pole + rng.uniform(0.0, 0.2)];
        parts.push(capsule(top, end, 0.03));
        top = end;
    }
    let shade_r = rng.uniform(0.2, 0.4);
    let shade_h = rng.uniform(0.25, 0.45);
    let [x, y, z] = top;
    parts.push(if rng.next_f64() < 0.6 {
        let wall = rng.uniform(0.02, 0.04);
        minus(
            cylinder([x, y, z - shade_h], [x, y, z + 0.02], shade_r),
            cylinder([x, y, z - shade_h - 0.01], [x, y, z + 0.01], shade_r - wall),
        )
    } else {
        let dome = Shape::Superquadric {
            centre: [x, y, z],
            half: [shade_r, shade_r, shade_h],
            e1: rng.uniform(0.4, 1.0),
            e2: 1.0,
        };
        // The lower half cut away, open below.
        minus(dome, cuboid([x, y, z - shade_h], [shade_r * 1.2, shade_r * 1.2, shade_h]))
    });
    Shape::Union(parts)
}

/// A hollow cylinder with a bottom, open at the top, and a ring handle.
fn mug(rng: &mut SplitMix64) -> Shape {
    let r = rng.uniform(0.35, 0.5);
    let h = rng.uniform(0.6, 1.0);
    let wall = rng.uniform(0.04, 0.08);
    let cup = minus(
        cylinder([0.0, 0.0, 0.0], [0.0, 0.0, h], r),
        cylinder([0.0, 0.0, wall], [0.0, 0.0, h + 0.05], r - wall),
    );
    let major = rng.uniform(0.15, 0.25) * h;
    let handle = Shape::Torus {
        centre: [r + major * 0.6, 0.0, h * rng.uniform(0.45, 0.6)],
        axis: [0.0, 1.0, 0.0],
        major,
        minor: rng.uniform(0.035, 0.06),
    };
    Shape::Union(vec![cup, handle])
}

/// A fuselage along x, wings, a tail plane and a fin; engines under the wings on 50%.
fn airplane(rng: &mut SplitMix64) -> Shape {
    let length = rng.uniform(2.0, 3.0);
    let body_r = rng.uniform(0.12, 0.2);
    let span = rng.uniform(1.8, 3.0);
    let chord = rng.uniform(0.3, 0.6);
    let wing_x = rng.uniform(-0.15, 0.15) * length;
    let tail_x = -length / 2.0 + 0.15;
    let mut parts = vec![
        capsule([-length / 2.0, 0.0, 0.0], [length / 2.0, 0.0, 0.0], body_r),
        cuboid([wing_x, 0.0, 0.0], [chord / 2.0, span / 2.0, 0.03]),
        cuboid([tail_x, 0.0, 0.05], [0.12, span * rng.uniform(0.2, 0.3), 0.025]),
        cuboid([tail_x, 0.0, body_r + 0.15], [0.15, 0.025, rng.uniform(0.15, 0.3)]),
    ];
    if rng.next_f64() < 0.5 {
        for sy in [-1.0, 1.0] {
            let y = sy * span * rng.uniform(0.2, 0.3);
            parts.push(capsule(
                [wing_x - 0.25, y, -0.12],
                [wing_x + 0.2, y, -0.12],
                rng.uniform(0.06, 0.1),
            ));
        }
    }
    Shape::Union(parts)
}

/// A superquadric body (round or squared cross-section), a neck and a cap.
fn bottle(rng: &mut SplitMix64) -> Shape {
    let r = rng.uniform(0.25, 0.4);
    let c = rng.uniform(0.4, 0.7);
    let body = Shape::Superquadric {
        centre: [0.0, 0.0, c],
        half: [r, r * rng.uniform(0.7, 1.0), c],
        e1: rng.uniform(0.2, 0.6),
        e2: if rng.next_f64() < 0.5 { 1.0 } else { rng.uniform(0.2, 0.5) },
    };
    let neck_r = rng.uniform(0.06, 0.12);
    let neck = rng.uniform(0.2, 0.4);
    let top = 2.0 * c;
    Shape::Union(vec![
        body,
        cylinder([0.0, 0.0, top - 0.1], [0.0, 0.0, top + neck], neck_r),
        cylinder([0.0, 0.0, top + neck], [0.0, 0.0, top + neck + 0.08], neck_r * 1.25),
    ])
}

/// Two superquadric weights on a bar.
fn dumbbell(rng: &mut SplitMix64) -> Shape {
    let bar = rng.uniform(0.8, 1.4);
    let w = rng.uniform(0.15, 0.35);
    let (e1, e2) = (rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0));
    let weight =
        |x: f64| Shape::Superquadric { centre: [x, 0.0, 0.0], half: [w * 0.6, w, w], e1, e2 };
    Shape::Union(vec![
        weight(-bar / 2.0),
        weight(bar / 2.0),
        cylinder([-bar / 2.0, 0.0, 0.0], [bar / 2.0, 0.0, 0.0], rng.uniform(0.04, 0.08)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupancy_counts_the_voxel_centres_inside() {
        // A ball of radius 0.3 at the centre: 32^3 centres inside make 4/3 pi 0.3^3 within 2%;
        // the grid is symmetric about the origin.
        let ball = Shape::Sphere { centre: [0.0; 3], radius: 0.3 };
        let grid = occupancy(&ball, 32).unwrap();
        let volume = grid.as_slice().iter().filter(|&&v| v == 1).count() as f64 / 32f64.powi(3);
        let exact = 4.0 / 3.0 * std::f64::consts::PI * 0.027;
        assert!((volume - exact).abs() < 0.02 * exact, "{volume} vs {exact}");
        let first = grid.geometry().index_to_physical([0.0; 3]);
        let last = grid.geometry().index_to_physical([31.0; 3]);
        assert!(
            first
                .iter()
                .zip(last)
                .all(|(a, b)| (a + b).abs() < 1e-12 && (b - 0.484375).abs() < 1e-12)
        );
        assert!(occupancy(&ball, 1).is_err());
        // A family shape fills part of the cube: 0.5% to 40% of it.
        let chair = occupancy(&ShapeClass::Chair.sample(3), 32).unwrap();
        let filled = chair.as_slice().iter().filter(|&&v| v == 1).count() as f64 / 32f64.powi(3);
        assert!(filled > 0.005 && filled < 0.4, "{filled}");
    }

    #[test]
    fn every_class_samples_closed_shapes_in_the_unit_cube_that_follow_the_seed() {
        for class in ShapeClass::TRAINED.into_iter().chain(ShapeClass::HELD_OUT) {
            assert_eq!(ShapeClass::from_name(class.name()), Some(class));
            assert_eq!(class.sample(7), class.sample(7), "{}", class.name());
            let mut volumes = Vec::new();
            for seed in 0..6 {
                let shape = class.sample(seed);
                let (lo, hi) = shape.bounds();
                let side = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f64::max);
                assert!((side - FITTED_SIDE).abs() < 1e-9, "{} {seed}: {side}", class.name());
                assert!(lo.iter().chain(&hi).all(|v| v.abs() <= 0.5), "{lo:?} {hi:?}");
                let mesh =
                    shape.mesh(1.0 / 64.0).unwrap_or_else(|e| panic!("{}: {e}", class.name()));
                let stats = mesh.stats();
                assert!(stats.is_watertight(), "{} {seed}: {stats:?}", class.name());
                volumes.push(stats.volume);
            }
            // Proportions and poses vary: the volumes spread by more than 5% of their mean.
            let mean = volumes.iter().sum::<f64>() / volumes.len() as f64;
            let spread = volumes.iter().map(|v| (v - mean).abs()).fold(0.0, f64::max);
            assert!(spread > 0.05 * mean, "{}: {volumes:?}", class.name());
        }
    }
}
