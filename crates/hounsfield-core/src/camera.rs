//! Cameras in the patient frame: what a pixel sees, for renders, visual hulls and surface fits.
//!
//! A [`Camera`] is an intrinsic model ([`Projection`]: orthographic or pinhole) plus a pose: the
//! rotation whose columns are the camera's axes in world coordinates (LPS, mm, the frame of
//! [`Geometry`](crate::Geometry)) and the camera's position. The camera frame follows the
//! computer-vision convention: x to the right of the picture, y down the picture, z along the
//! viewing direction. Pixel `(i, j)` (column, row) covers `[i, i+1) x [j, j+1)` in picture
//! coordinates, so its centre is `(i + 0.5, j + 0.5)`.
//!
//! [`Camera::orbit`] places a camera as the renderer's azimuth/elevation views do: at azimuth 0
//! and elevation 0 it looks along +y (from the patient's front) with +x (the patient's left) to
//! the right and +z (superior) up; azimuth 90 looks along +x (from the patient's right).

use crate::mat3::{Mat3, mul_vec, transpose};
use crate::vec3::{Vec3, add, add_scaled, cross, dot, norm, normalize, scale, sub};
use crate::{Error, Result};

/// How camera coordinates become picture coordinates. With the `serde` feature it serialises
/// as `{"kind": "orthographic", "width_mm": .., "height_mm": ..}` or `{"kind": "pinhole", "fx":
/// .., "fy": .., "cx": .., "cy": ..}`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)
)]
pub enum Projection {
    /// Parallel rays along the camera's z axis; the picture spans `width_mm` x `height_mm`
    /// centred on the camera position.
    Orthographic {
        /// Picture width in mm.
        width_mm: f64,
        /// Picture height in mm.
        height_mm: f64,
    },
    /// A pinhole at the camera position: `u = fx x/z + cx`, `v = fy y/z + cy` (pixels).
    Pinhole {
        /// Focal length along x, in pixels.
        fx: f64,
        /// Focal length along y, in pixels.
        fy: f64,
        /// Principal point, column.
        cx: f64,
        /// Principal point, row.
        cy: f64,
    },
}

/// A camera: projection, picture size and pose in the LPS millimetre frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    projection: Projection,
    width: usize,
    height: usize,
    rotation: Mat3,
    position: Vec3,
}

/// The six orthographic views of Wonder3D (front, front-right, right, back, left, front-left).
pub const WONDER3D_VIEWS: [(&str, f64); 6] = [
    ("front", 0.0),
    ("front_right", 45.0),
    ("right", 90.0),
    ("back", 180.0),
    ("left", 270.0),
    ("front_left", 315.0),
];

/// Largest picture side accepted (a camera is a description, not an allocation, but every user
/// allocates `width * height`).
pub const MAX_PICTURE_SIDE: usize = 16_384;

impl Camera {
    /// A camera from its parts. `rotation`'s columns are the camera's x (picture right), y
    /// (picture down) and z (viewing direction) axes in world coordinates; it must be a proper
    /// rotation (orthonormal, determinant +1, to 1e-6).
    pub fn new(
        projection: Projection,
        width: usize,
        height: usize,
        rotation: Mat3,
        position: Vec3,
    ) -> Result<Self> {
        if width == 0 || height == 0 || width > MAX_PICTURE_SIDE || height > MAX_PICTURE_SIDE {
            return Err(Error::param(
                "camera size",
                format!("{width} x {height} pixels (each side 1..={MAX_PICTURE_SIDE})"),
            ));
        }
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        match projection {
            Projection::Orthographic { width_mm, height_mm } => {
                if !(width_mm > 0.0 && height_mm > 0.0 && finite(&[width_mm, height_mm])) {
                    return Err(Error::param(
                        "orthographic extent",
                        format!("{width_mm} x {height_mm} mm (must be finite and > 0)"),
                    ));
                }
            }
            Projection::Pinhole { fx, fy, cx, cy } => {
                if !(fx > 0.0 && fy > 0.0 && finite(&[fx, fy, cx, cy])) {
                    return Err(Error::param(
                        "pinhole intrinsics",
                        format!(
                            "fx {fx}, fy {fy}, cx {cx}, cy {cy} (focal lengths finite and > 0)"
                        ),
                    ));
                }
            }
        }
        if !finite(&position) || !rotation.iter().all(|r| finite(r)) {
            return Err(Error::param("camera pose", "non-finite rotation or position"));
        }
        let r = transpose(&rotation); // rows: the camera axes
        let orthonormal = (0..3)
            .all(|a| (0..3).all(|b| (dot(r[a], r[b]) - f64::from(u8::from(a == b))).abs() < 1e-6));
        if !orthonormal || dot(cross(r[0], r[1]), r[2]) < 0.0 {
            return Err(Error::param(
                "camera rotation",
                format!("{rotation:?} is not a proper rotation (orthonormal, determinant +1)"),
            ));
        }
        Ok(Camera { projection, width, height, rotation, position })
    }

    /// A camera at `eye` looking at `target`, with `up` (world) pointing up the picture.
    pub fn look_at(
        projection: Projection,
        width: usize,
        height: usize,
        eye: Vec3,
        target: Vec3,
        up: Vec3,
    ) -> Result<Self> {
        let z = sub(target, eye);
        if norm(z).is_nan() || norm(z) <= 0.0 {
            return Err(Error::param("camera", format!("eye {eye:?} is the target")));
        }
        let z = normalize(z);
        let x = cross(scale(up, -1.0), z); // picture right = down x forward
        if norm(x).is_nan() || norm(x) <= 1e-9 {
            return Err(Error::param("camera up", format!("{up:?} is parallel to the view")));
        }
        let x = normalize(x);
        let y = cross(z, x);
        let rotation = [[x[0], y[0], z[0]], [x[1], y[1], z[1]], [x[2], y[2], z[2]]];
        Camera::new(projection, width, height, rotation, eye)
    }

    /// A camera on a sphere of `distance` mm around `target` at `azimuth` and `elevation`
    /// (degrees; the renderer's convention, see the module docs), looking at the target.
    pub fn orbit(
        projection: Projection,
        width: usize,
        height: usize,
        target: Vec3,
        distance: f64,
        azimuth: f64,
        elevation: f64,
    ) -> Result<Self> {
        if !(distance > 0.0 && distance.is_finite() && azimuth.is_finite() && elevation.is_finite())
        {
            return Err(Error::param(
                "orbit",
                format!("distance {distance}, azimuth {azimuth}, elevation {elevation}"),
            ));
        }
        if elevation.abs() >= 90.0 {
            return Err(Error::param("elevation", format!("{elevation} (must be in (-90, 90))")));
        }
        let (az, el) = (azimuth.to_radians(), elevation.to_radians());
        let dir = [el.cos() * az.sin(), el.cos() * az.cos(), -el.sin()];
        let right = [az.cos(), -az.sin(), 0.0];
        let down = cross(dir, right);
        let rotation =
            [[right[0], down[0], dir[0]], [right[1], down[1], dir[1]], [right[2], down[2], dir[2]]];
        Camera::new(projection, width, height, rotation, add_scaled(target, -distance, dir))
    }

    /// The six orthographic views of Wonder3D around a sphere of `radius` mm at `centre`: each
    /// `size` x `size` pixels framing the sphere with a 5% margin, cameras `3 radius` away.
    pub fn wonder3d(centre: Vec3, radius: f64, size: usize) -> Result<Vec<(&'static str, Camera)>> {
        Camera::ring(centre, radius, size, &WONDER3D_VIEWS, 0.0)
    }

    /// Orthographic cameras framing a sphere of `radius` mm at `centre`, one per
    /// `(name, azimuth)`, all at `elevation` degrees.
    pub fn ring(
        centre: Vec3,
        radius: f64,
        size: usize,
        views: &[(&'static str, f64)],
        elevation: f64,
    ) -> Result<Vec<(&'static str, Camera)>> {
        if !(radius > 0.0 && radius.is_finite()) {
            return Err(Error::param("radius", format!("{radius} (must be finite and > 0)")));
        }
        let side = 2.0 * radius * 1.05;
        let projection = Projection::Orthographic { width_mm: side, height_mm: side };
        views
            .iter()
            .map(|&(name, azimuth)| {
                Camera::orbit(projection, size, size, centre, 3.0 * radius, azimuth, elevation)
                    .map(|c| (name, c))
            })
            .collect()
    }

    /// The intrinsic model.
    pub fn projection(&self) -> Projection {
        self.projection
    }

    /// Picture width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Picture height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// World-from-camera rotation (columns: camera x, y, z in world coordinates).
    pub fn rotation(&self) -> Mat3 {
        self.rotation
    }

    /// Camera position (pinhole centre, or the centre of the orthographic picture plane).
    pub fn position(&self) -> Vec3 {
        self.position
    }

    /// The viewing direction (camera z) in world coordinates.
    pub fn forward(&self) -> Vec3 {
        [self.rotation[0][2], self.rotation[1][2], self.rotation[2][2]]
    }

    /// A world point in camera coordinates.
    pub fn to_camera(&self, p: Vec3) -> Vec3 {
        mul_vec(&transpose(&self.rotation), sub(p, self.position))
    }

    /// A camera-frame point in world coordinates.
    pub fn to_world(&self, c: Vec3) -> Vec3 {
        add(mul_vec(&self.rotation, c), self.position)
    }

    /// Picture coordinates `(u, v)` and depth (camera z, mm) of a world point; `None` for a
    /// pinhole camera when the point is not in front of it.
    pub fn project(&self, p: Vec3) -> Option<[f64; 3]> {
        let c = self.to_camera(p);
        match self.projection {
            Projection::Orthographic { width_mm, height_mm } => Some([
                (c[0] / width_mm + 0.5) * self.width as f64,
                (c[1] / height_mm + 0.5) * self.height as f64,
                c[2],
            ]),
            Projection::Pinhole { fx, fy, cx, cy } => {
                (c[2] > 0.0).then(|| [fx * c[0] / c[2] + cx, fy * c[1] / c[2] + cy, c[2]])
            }
        }
    }

    /// The pixel `(column, row)` a world point falls in, if it is in the picture.
    pub fn pixel(&self, p: Vec3) -> Option<(usize, usize)> {
        let [u, v, _] = self.project(p)?;
        let inside = u >= 0.0 && v >= 0.0 && u < self.width as f64 && v < self.height as f64;
        inside.then_some((u as usize, v as usize))
    }

    /// The ray through picture point `(u, v)`: origin (on the picture plane, or the pinhole)
    /// and unit direction, in world coordinates.
    pub fn ray(&self, u: f64, v: f64) -> (Vec3, Vec3) {
        match self.projection {
            Projection::Orthographic { width_mm, height_mm } => {
                let x = (u / self.width as f64 - 0.5) * width_mm;
                let y = (v / self.height as f64 - 0.5) * height_mm;
                (self.to_world([x, y, 0.0]), self.forward())
            }
            Projection::Pinhole { fx, fy, cx, cy } => {
                let d = mul_vec(&self.rotation, [(u - cx) / fx, (v - cy) / fy, 1.0]);
                (self.position, normalize(d))
            }
        }
    }

    /// The picture's size in mm at depth `depth` along one pixel (for orthographic cameras the
    /// same at every depth): the footprint of a pixel, for sampling and tolerances.
    pub fn pixel_size_at(&self, depth: f64) -> f64 {
        match self.projection {
            Projection::Orthographic { width_mm, .. } => width_mm / self.width as f64,
            Projection::Pinhole { fx, .. } => depth.abs() / fx,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ortho() -> Projection {
        Projection::Orthographic { width_mm: 100.0, height_mm: 80.0 }
    }

    #[test]
    fn the_front_view_puts_the_left_right_and_superior_up() {
        let c = Camera::orbit(ortho(), 100, 80, [0.0; 3], 300.0, 0.0, 0.0).expect("camera");
        assert!(norm(sub(c.forward(), [0.0, 1.0, 0.0])) < 1e-12);
        assert!(norm(sub(c.position(), [0.0, -300.0, 0.0])) < 1e-12);
        // +x (patient left) is right in the picture, +z (superior) is up (smaller row).
        let [u, v, d] = c.project([10.0, 0.0, 20.0]).expect("in front");
        assert!((u - 60.0).abs() < 1e-9 && (v - 20.0).abs() < 1e-9 && (d - 300.0).abs() < 1e-9);
        assert_eq!(c.pixel([10.0, 0.0, 20.0]), Some((60, 20)));
        assert_eq!(c.pixel([60.0, 0.0, 0.0]), None);
        // Azimuth 90 looks along +x, from the patient's right.
        let side = Camera::orbit(ortho(), 100, 80, [0.0; 3], 300.0, 90.0, 0.0).expect("camera");
        assert!(norm(sub(side.forward(), [1.0, 0.0, 0.0])) < 1e-12);
    }

    #[test]
    fn rays_go_back_through_the_points_they_project_from() {
        let pin = Projection::Pinhole { fx: 120.0, fy: 110.0, cx: 64.0, cy: 50.0 };
        for projection in [ortho(), pin] {
            let c = Camera::orbit(projection, 128, 100, [5.0, -3.0, 2.0], 250.0, 37.0, 21.0)
                .expect("camera");
            for p in [[1.0, 2.0, 3.0], [-20.0, 15.0, -7.0], [30.0, 0.0, 12.0]] {
                let [u, v, depth] = c.project(p).expect("in front");
                let (o, d) = c.ray(u, v);
                // p lies on the ray: p - o is parallel to d, at distance depth along z.
                let t = dot(sub(p, o), d);
                assert!(norm(sub(add_scaled(o, t, d), p)) < 1e-9, "{projection:?} {p:?}");
                assert!((dot(sub(p, c.position()), c.forward()) - depth).abs() < 1e-9);
                assert!(norm(sub(c.to_world(c.to_camera(p)), p)) < 1e-12);
            }
        }
    }

    #[test]
    fn look_at_matches_orbit_and_bad_poses_are_refused() {
        let a = Camera::orbit(ortho(), 10, 10, [1.0, 2.0, 3.0], 50.0, 30.0, 20.0).expect("orbit");
        let eye = a.position();
        let b = Camera::look_at(ortho(), 10, 10, eye, [1.0, 2.0, 3.0], [0.0, 0.0, 1.0])
            .expect("look_at");
        for (ra, rb) in a.rotation().iter().zip(b.rotation()) {
            assert!(norm(sub(*ra, rb)) < 1e-12, "{:?} vs {:?}", a.rotation(), b.rotation());
        }
        let mirror = [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(Camera::new(ortho(), 10, 10, mirror, [0.0; 3]).is_err());
        assert!(Camera::new(ortho(), 0, 10, crate::mat3::IDENTITY, [0.0; 3]).is_err());
        assert!(
            Camera::look_at(ortho(), 10, 10, [0.0; 3], [0.0, 0.0, 5.0], [0.0, 0.0, 1.0]).is_err()
        );
        let bad = Projection::Pinhole { fx: 0.0, fy: 1.0, cx: 0.0, cy: 0.0 };
        assert!(Camera::new(bad, 10, 10, crate::mat3::IDENTITY, [0.0; 3]).is_err());
        let pin = Projection::Pinhole { fx: 10.0, fy: 10.0, cx: 5.0, cy: 5.0 };
        let c = Camera::new(pin, 10, 10, crate::mat3::IDENTITY, [0.0; 3]).expect("camera");
        assert_eq!(c.project([0.0, 0.0, -1.0]), None, "behind a pinhole");
    }

    #[test]
    fn the_wonder3d_views_surround_the_object_at_45_degree_steps() {
        let views = Camera::wonder3d([0.0; 3], 10.0, 64).expect("views");
        let names: Vec<_> = views.iter().map(|v| v.0).collect();
        assert_eq!(names, ["front", "front_right", "right", "back", "left", "front_left"]);
        for (_, c) in &views {
            // The centre projects to the picture centre; the sphere fits with its margin.
            let [u, v, _] = c.project([0.0; 3]).expect("in front");
            assert!((u - 32.0).abs() < 1e-9 && (v - 32.0).abs() < 1e-9);
            assert!((c.pixel_size_at(0.0) - 21.0 / 64.0).abs() < 1e-12);
        }
        let d = dot(views[0].1.forward(), views[1].1.forward());
        assert!((d - 45f64.to_radians().cos()).abs() < 1e-12);
    }
}
