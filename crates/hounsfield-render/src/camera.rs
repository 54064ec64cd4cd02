//! An orthographic camera around a point, set by azimuth and elevation.
//!
//! At azimuth 0 and elevation 0 the camera looks along +y (LPS: from the patient's front), with
//! +x (the patient's left) to the right of the picture and +z (superior) up. Azimuth turns the
//! camera about z (90°: looking along +x, from the patient's right); positive elevation lifts
//! it (looking down).

use serde::{Deserialize, Serialize};

pub(crate) use hounsfield_core::vec3::{Vec3 as V3, add, cross, dot, normalize, scale, sub};

/// Where the camera looks from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct View {
    /// Degrees about +z (0: from the front).
    pub azimuth: f64,
    /// Degrees above the horizontal.
    pub elevation: f64,
    /// Picture width and height in pixels.
    pub size: usize,
}

impl Default for View {
    fn default() -> Self {
        View { azimuth: 0.0, elevation: 0.0, size: 256 }
    }
}

/// The camera frame: viewing direction and the picture's right and up vectors (unit, world).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    pub dir: V3,
    pub right: V3,
    pub up: V3,
}

impl View {
    pub(crate) fn frame(&self) -> Frame {
        let (az, el) = (self.azimuth.to_radians(), self.elevation.to_radians());
        let dir = [el.cos() * az.sin(), el.cos() * az.cos(), -el.sin()];
        let right = [az.cos(), -az.sin(), 0.0];
        Frame { dir, right, up: normalize(cross(right, dir)) }
    }
}

impl Frame {
    /// The world point at picture pixel `(x, y)` (row 0 at the top) on the plane through
    /// `centre` facing the camera, for a picture `2 half` mm wide of `size` pixels.
    pub(crate) fn pixel(&self, centre: V3, half: f64, size: usize, x: usize, y: usize) -> V3 {
        let px = 2.0 * half / size as f64;
        let u = (x as f64 + 0.5) * px - half;
        let v = half - (y as f64 + 0.5) * px;
        add(add(centre, scale(self.right, u)), scale(self.up, v))
    }

    /// Picture coordinates `(x, y)` (continuous) and depth of a world point.
    pub(crate) fn project(&self, centre: V3, half: f64, size: usize, p: V3) -> (f64, f64, f64) {
        let rel = [p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]];
        let px = 2.0 * half / size as f64;
        (
            (dot(rel, self.right) + half) / px - 0.5,
            (half - dot(rel, self.up)) / px - 0.5,
            dot(rel, self.dir),
        )
    }
}
