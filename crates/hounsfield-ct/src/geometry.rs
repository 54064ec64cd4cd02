//! Scan geometries and the one convention they all share.
//!
//! **World frame.** Millimetres; `x`, `y`, `z` as in [`ImageGrid`]: the image is centred on the
//! rotation axis (the `z` axis) unless [`ImageGrid::centre`] says otherwise, voxel `(iz, iy, ix)`
//! sits at `centre + ((ix - (nx-1)/2) sx, (iy - (ny-1)/2) sy, (iz - (nz-1)/2) sz)`, so the row index
//! grows with `y` and the slice index with `z`.
//!
//! **Angles.** Radians, counter-clockwise from `+x` towards `+y`. At angle `θ` the central ray
//! points along `c = (-sin θ, cos θ, 0)` and the detector's column axis along
//! `e_u = (cos θ, sin θ, 0)`: a parallel-beam detector at `θ` measures
//! `p(θ, u) = ∫ f(u e_u + t c) dt`, the textbook Radon transform. Detector rows grow with `+z`.
//!
//! **Detector.** Column `j` is centred at `u_j = (j - (cols-1)/2) du + offset_u`, row `i` at
//! `v_i = (i - (rows-1)/2) dv + offset_v`: the detector centre lies between the two middle pixels
//! for an even count, on the middle pixel for an odd one, never "off by half a pixel" depending on
//! the parity. Fan and cone beams put the source at `-SOD c` and the detector centre at
//! `(SDD - SOD) c`; an arc detector is a circle of radius SDD around the source with column
//! spacing measured along the arc.
//!
//! **Data layout.** Projections are `[views, cols]` for 2D geometries and `[views, rows, cols]`
//! for 3D ones; images are `[ny, nx]` and `[nz, ny, nx]`.

use hounsfield_core::{Error, Geometry, Result};
use serde::{Deserialize, Serialize};

/// A point or direction in the world frame, `(x, y, z)` in mm.
pub use hounsfield_core::vec3::Vec3;

/// Largest number of views, detector pixels or voxels along one axis that a geometry accepts:
/// far beyond any scanner, small enough that index arithmetic cannot overflow.
const MAX_COUNT: usize = 1 << 20;

/// Largest number of voxels in an image or values in a projection stack (16 GiB of f32): a
/// typed error instead of an allocation failure for a scan file that asks for more.
const MAX_ELEMENTS: u64 = 1 << 32;

fn check_elements(what: &'static str, counts: &[usize]) -> Result<()> {
    let total = counts.iter().try_fold(1u64, |acc, &n| acc.checked_mul(n as u64));
    match total {
        Some(t) if t <= MAX_ELEMENTS => Ok(()),
        _ => Err(Error::TooLarge(format!("{what} of {counts:?} exceed {MAX_ELEMENTS} values"))),
    }
}

/// The image grid a projector or a reconstruction works on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageGrid {
    /// `(nz, ny, nx)`; `nz = 1` for 2D geometries.
    pub shape: [usize; 3],
    /// Voxel size `(sx, sy, sz)` in mm.
    pub spacing: [f64; 3],
    /// World position of the grid's centre, `(x, y, z)` in mm (default the origin).
    #[serde(default)]
    pub centre: Vec3,
}

impl ImageGrid {
    /// An `ny x nx` image of square pixels of `pixel` mm, centred on the rotation axis.
    pub fn new_2d(ny: usize, nx: usize, pixel: f64) -> Result<Self> {
        Self::new_3d([1, ny, nx], [pixel, pixel, pixel])
    }

    /// An `(nz, ny, nx)` volume with voxel size `(sx, sy, sz)`, centred on the origin.
    pub fn new_3d(shape: [usize; 3], spacing: [f64; 3]) -> Result<Self> {
        let grid = ImageGrid { shape, spacing, centre: [0.0; 3] };
        grid.validate()?;
        Ok(grid)
    }

    /// Moves the grid's centre to `centre` (world mm).
    pub fn with_centre(mut self, centre: Vec3) -> Self {
        self.centre = centre;
        self
    }

    /// Checks sizes, spacings and centre.
    pub fn validate(&self) -> Result<()> {
        check_elements("image voxels", &self.shape)?;
        if self.shape.iter().any(|&n| n == 0 || n > MAX_COUNT) {
            return Err(Error::param(
                "image shape",
                format!("every axis must hold 1..={MAX_COUNT} voxels, found {:?}", self.shape),
            ));
        }
        if self.spacing.iter().any(|&s| !(s.is_finite() && s > 0.0)) {
            return Err(Error::param(
                "image spacing",
                format!("must be finite and > 0, found {:?}", self.spacing),
            ));
        }
        if self.centre.iter().any(|c| !c.is_finite()) {
            return Err(Error::param("image centre", format!("must be finite: {:?}", self.centre)));
        }
        Ok(())
    }

    /// World position of voxel `(0, 0, 0)`, `(x, y, z)`.
    pub fn first_voxel(&self) -> Vec3 {
        let [nz, ny, nx] = self.shape;
        let n = [nx, ny, nz];
        std::array::from_fn(|a| self.centre[a] - (n[a] as f64 - 1.0) / 2.0 * self.spacing[a])
    }

    /// The grid as a core [`Geometry`] (axis-aligned), for writing images as volumes.
    pub fn geometry(&self) -> Result<Geometry> {
        Geometry::axis_aligned(self.spacing, self.first_voxel())
    }

    /// An image on this grid (`[ny, nx]` for 2D scans, `[nz, ny, nx]` otherwise, as projectors
    /// and reconstructions give them) as a volume with the grid's geometry.
    pub fn volume_of(&self, image: ndarray::ArrayD<f32>) -> Result<hounsfield_core::Volume<f32>> {
        if image.len() != self.len() {
            return Err(Error::param(
                "image",
                format!("{:?} values do not fill the grid {:?}", image.shape(), self.shape),
            ));
        }
        let values = if image.is_standard_layout() {
            image.into_raw_vec_and_offset().0
        } else {
            image.iter().copied().collect()
        };
        hounsfield_core::Volume::from_vec(self.shape, values, self.geometry()?)
    }

    /// A volume on this grid as the array `scan`'s projector takes (`[ny, nx]` for 2D scans);
    /// the volume must have the grid's shape.
    pub fn image_of(
        &self,
        volume: &hounsfield_core::Volume<f32>,
        scan: &ScanGeometry,
    ) -> Result<ndarray::ArrayD<f32>> {
        if volume.shape() != self.shape {
            return Err(Error::param(
                "image",
                format!("shape {:?} does not match the grid {:?}", volume.shape(), self.shape),
            ));
        }
        let shape = scan.image_shape(self)?;
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), volume.as_slice().to_vec())
            .map_err(|e| Error::param("image", e.to_string()))
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the grid holds no voxel (never true for a validated grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Radius of the largest centred disc in the `xy` plane that lies inside the grid (mm).
    pub fn inscribed_radius(&self) -> f64 {
        let [_, ny, nx] = self.shape;
        (nx as f64 * self.spacing[0]).min(ny as f64 * self.spacing[1]) / 2.0
    }
}

/// A flat or curved detector's pixel layout.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detector {
    /// Number of columns (pixels along `u`).
    pub cols: usize,
    /// Number of rows (pixels along `v`, along `z`); 1 for 2D geometries.
    #[serde(default = "one")]
    pub rows: usize,
    /// Column pitch in mm (along the arc for arc detectors).
    pub col_spacing: f64,
    /// Row pitch in mm.
    #[serde(default = "unit")]
    pub row_spacing: f64,
    /// Shift of the detector centre along `u`, mm (an offset detector for half-fan scans).
    #[serde(default)]
    pub col_offset: f64,
    /// Shift of the detector centre along `v`, mm.
    #[serde(default)]
    pub row_offset: f64,
}

fn one() -> usize {
    1
}

fn unit() -> f64 {
    1.0
}

impl Detector {
    /// A single-row detector of `cols` pixels of `spacing` mm, centred.
    pub fn line(cols: usize, spacing: f64) -> Self {
        Detector {
            cols,
            rows: 1,
            col_spacing: spacing,
            row_spacing: 1.0,
            col_offset: 0.0,
            row_offset: 0.0,
        }
    }

    /// A `rows x cols` panel with pixel pitch `(row_spacing, col_spacing)` mm, centred.
    pub fn panel(rows: usize, cols: usize, row_spacing: f64, col_spacing: f64) -> Self {
        Detector { cols, rows, col_spacing, row_spacing, col_offset: 0.0, row_offset: 0.0 }
    }

    /// Shifts the detector centre by `(col_offset, row_offset)` mm.
    pub fn with_offset(mut self, col_offset: f64, row_offset: f64) -> Self {
        self.col_offset = col_offset;
        self.row_offset = row_offset;
        self
    }

    /// Position of column `col` (a continuous index) along `u`, mm.
    pub fn u(&self, col: f64) -> f64 {
        (col - (self.cols as f64 - 1.0) / 2.0) * self.col_spacing + self.col_offset
    }

    /// Position of row `row` (a continuous index) along `v`, mm.
    pub fn v(&self, row: f64) -> f64 {
        (row - (self.rows as f64 - 1.0) / 2.0) * self.row_spacing + self.row_offset
    }

    fn validate(&self, two_d: bool) -> Result<()> {
        if self.cols == 0 || self.cols > MAX_COUNT || self.rows == 0 || self.rows > MAX_COUNT {
            return Err(Error::param(
                "detector",
                format!(
                    "needs 1..={MAX_COUNT} rows and columns, found {} x {}",
                    self.rows, self.cols
                ),
            ));
        }
        if two_d && self.rows != 1 {
            return Err(Error::param(
                "detector",
                format!("a 2D geometry has one detector row, found {}", self.rows),
            ));
        }
        let values = [self.col_spacing, self.row_spacing, self.col_offset, self.row_offset];
        if values.iter().any(|v| !v.is_finite())
            || self.col_spacing <= 0.0
            || self.row_spacing <= 0.0
        {
            return Err(Error::param(
                "detector",
                format!("pixel pitch must be finite and > 0 and offsets finite, found {self:?}"),
            ));
        }
        Ok(())
    }
}

/// What a vector geometry's `source` vectors mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Beam {
    /// `source` is the ray direction, the same for every pixel of the view.
    Parallel,
    /// `source` is the focal spot; rays run from it to each pixel centre.
    Cone,
}

/// One view of a vector geometry, as ASTRA's `*_vec` rows: the detector centre, the vectors from
/// one pixel to the next along a row (`u`) and along a column (`v`), and the source.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewVectors {
    /// Source position (cone/fan) or ray direction (parallel).
    pub source: Vec3,
    /// Centre of the detector.
    pub detector: Vec3,
    /// From pixel `(r, c)` to `(r, c + 1)`; its length is the column pitch.
    pub u: Vec3,
    /// From pixel `(r, c)` to `(r + 1, c)`; zero for 2D geometries.
    pub v: Vec3,
}

/// A scan: where the source and detector are for each view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScanGeometry {
    /// 2D parallel beam.
    Parallel2d {
        /// View angles, radians.
        #[serde(deserialize_with = "angles::deserialize")]
        angles: Vec<f64>,
        /// One detector row.
        detector: Detector,
    },
    /// 2D fan beam with a flat or an equiangular arc detector.
    Fan2d {
        /// View angles, radians.
        #[serde(deserialize_with = "angles::deserialize")]
        angles: Vec<f64>,
        /// One detector row.
        detector: Detector,
        /// Source to rotation axis, mm.
        source_origin: f64,
        /// Source to detector centre, mm.
        source_detector: f64,
        /// Equiangular arc detector (column pitch along the arc) instead of a flat one.
        #[serde(default)]
        arc: bool,
    },
    /// 3D parallel beam; detector rows along `z`.
    Parallel3d {
        /// View angles, radians.
        #[serde(deserialize_with = "angles::deserialize")]
        angles: Vec<f64>,
        /// The panel.
        detector: Detector,
    },
    /// 3D circular cone beam with a flat panel.
    Cone {
        /// View angles, radians.
        #[serde(deserialize_with = "angles::deserialize")]
        angles: Vec<f64>,
        /// The panel.
        detector: Detector,
        /// Source to rotation axis, mm.
        source_origin: f64,
        /// Source to detector centre, mm.
        source_detector: f64,
    },
    /// Any per-view geometry (helical, tilted, wobbling...), as ASTRA's `*_vec` geometries.
    Vector {
        /// 2 or 3 dimensions.
        dims: usize,
        /// Parallel or diverging rays.
        beam: Beam,
        /// Pixel counts (pitches and offsets are in the vectors).
        rows: usize,
        /// Pixel counts along `u`.
        cols: usize,
        /// One entry per view.
        views: Vec<ViewVectors>,
    },
}

/// Angles `start + k * span / count` for `k = 0..count` (radians): a full or short scan without
/// repeating its first view.
pub fn uniform_angles(count: usize, start: f64, span: f64) -> Vec<f64> {
    (0..count).map(|k| start + k as f64 * span / count as f64).collect()
}

/// How one view's detector pixels are laid out in the world (internal form of every geometry).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Frame {
    /// Flat detector: pixel `(r, c)` at `centre + (c - (cols-1)/2) u + (r - (rows-1)/2) v`.
    Flat {
        /// `Some(source)` for diverging beams, `None` for parallel ones.
        source: Option<Vec3>,
        /// Unit ray direction of a parallel beam.
        ray: Vec3,
        centre: Vec3,
        u: Vec3,
        v: Vec3,
    },
    /// Equiangular arc (2D): pixel `c` at angle `gamma0 + (c - (cols-1)/2) dgamma` from the
    /// central ray, at distance `radius` from the source.
    Arc { source: Vec3, central: Vec3, across: Vec3, gamma0: f64, dgamma: f64 },
}

/// A ray: points `origin + t dir` for `t >= t_min` (`dir` is a unit vector, `t` in mm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ray {
    /// A point on the ray.
    pub origin: Vec3,
    /// Unit direction.
    pub dir: Vec3,
    /// Start of the ray (0 at a source, `-inf` for parallel beams).
    pub t_min: f64,
}

pub(crate) use hounsfield_core::vec3::{add_scaled, cross, dot, norm, scale, sub};

/// `(c, e_u)` at angle `theta`: the central ray direction and the detector's column axis.
fn rotation_frame(theta: f64) -> (Vec3, Vec3) {
    let (s, c) = theta.sin_cos();
    ([-s, c, 0.0], [c, s, 0.0])
}

impl Frame {
    /// The ray through the continuous detector position `(row, col)` of a `rows x cols` detector.
    pub(crate) fn ray(&self, rows: usize, cols: usize, row: f64, col: f64) -> Ray {
        let dc = col - (cols as f64 - 1.0) / 2.0;
        match *self {
            Frame::Flat { source, ray, centre, u, v } => {
                let dr = row - (rows as f64 - 1.0) / 2.0;
                let pixel = add_scaled(add_scaled(centre, dc, u), dr, v);
                match source {
                    None => Ray { origin: pixel, dir: ray, t_min: f64::NEG_INFINITY },
                    Some(s) => {
                        let d = sub(pixel, s);
                        Ray { origin: s, dir: scale(d, 1.0 / norm(d)), t_min: 0.0 }
                    }
                }
            }
            Frame::Arc { source, central, across, gamma0, dgamma, .. } => {
                let (sg, cg) = (gamma0 + dc * dgamma).sin_cos();
                let dir = add_scaled(scale(central, cg), sg, across);
                Ray { origin: source, dir, t_min: 0.0 }
            }
        }
    }
}

impl ScanGeometry {
    /// 2D parallel beam: `angles` (radians), `cols` pixels of `spacing` mm.
    pub fn parallel_2d(angles: Vec<f64>, cols: usize, spacing: f64) -> Result<Self> {
        let g = ScanGeometry::Parallel2d { angles, detector: Detector::line(cols, spacing) };
        g.validate()?;
        Ok(g)
    }

    /// 2D fan beam with a flat detector (`arc = false`) or an equiangular arc.
    pub fn fan_2d(
        angles: Vec<f64>,
        detector: Detector,
        source_origin: f64,
        source_detector: f64,
        arc: bool,
    ) -> Result<Self> {
        let g = ScanGeometry::Fan2d { angles, detector, source_origin, source_detector, arc };
        g.validate()?;
        Ok(g)
    }

    /// 3D parallel beam.
    pub fn parallel_3d(angles: Vec<f64>, detector: Detector) -> Result<Self> {
        let g = ScanGeometry::Parallel3d { angles, detector };
        g.validate()?;
        Ok(g)
    }

    /// Circular cone beam with a flat panel.
    pub fn cone(
        angles: Vec<f64>,
        detector: Detector,
        source_origin: f64,
        source_detector: f64,
    ) -> Result<Self> {
        let g = ScanGeometry::Cone { angles, detector, source_origin, source_detector };
        g.validate()?;
        Ok(g)
    }

    /// A per-view vector geometry.
    pub fn vector(
        dims: usize,
        beam: Beam,
        rows: usize,
        cols: usize,
        views: Vec<ViewVectors>,
    ) -> Result<Self> {
        let g = ScanGeometry::Vector { dims, beam, rows, cols, views };
        g.validate()?;
        Ok(g)
    }

    /// Checks counts, distances and vectors; every constructor calls it, deserialised geometries
    /// must too (projectors and reconstructions do).
    pub fn validate(&self) -> Result<()> {
        let (rows, cols) = self.detector_shape();
        check_elements("projections (views, rows, cols)", &[self.views(), rows, cols])?;
        let check_angles = |angles: &[f64]| -> Result<()> {
            if angles.is_empty() || angles.len() > MAX_COUNT {
                return Err(Error::param(
                    "angles",
                    format!("need 1..={MAX_COUNT} views, found {}", angles.len()),
                ));
            }
            if let Some(a) = angles.iter().find(|a| !a.is_finite()) {
                return Err(Error::param("angles", format!("must be finite, found {a}")));
            }
            Ok(())
        };
        let check_distances = |sod: f64, sdd: f64| -> Result<()> {
            if !(sod.is_finite() && sdd.is_finite() && sod > 0.0 && sdd > sod) {
                return Err(Error::param(
                    "source distances",
                    format!("need 0 < source_origin < source_detector, found {sod} and {sdd}"),
                ));
            }
            Ok(())
        };
        match self {
            ScanGeometry::Parallel2d { angles, detector } => {
                check_angles(angles)?;
                detector.validate(true)
            }
            ScanGeometry::Parallel3d { angles, detector } => {
                check_angles(angles)?;
                detector.validate(false)
            }
            ScanGeometry::Fan2d { angles, detector, source_origin, source_detector, arc } => {
                check_angles(angles)?;
                detector.validate(true)?;
                check_distances(*source_origin, *source_detector)?;
                let half_fan = if *arc {
                    detector.cols as f64 * detector.col_spacing / 2.0 / source_detector
                        + (detector.col_offset / source_detector).abs()
                } else {
                    0.0
                };
                if half_fan >= std::f64::consts::FRAC_PI_2 {
                    return Err(Error::param(
                        "detector",
                        "an arc detector must span less than 180 degrees",
                    ));
                }
                Ok(())
            }
            ScanGeometry::Cone { angles, detector, source_origin, source_detector } => {
                check_angles(angles)?;
                detector.validate(false)?;
                check_distances(*source_origin, *source_detector)
            }
            ScanGeometry::Vector { dims, beam, rows, cols, views } => {
                if !matches!(dims, 2 | 3) {
                    return Err(Error::param("dims", format!("must be 2 or 3, found {dims}")));
                }
                if views.is_empty() || views.len() > MAX_COUNT {
                    return Err(Error::param("views", "need at least one view"));
                }
                Detector::panel(*rows, *cols, 1.0, 1.0).validate(*dims == 2)?;
                for (k, view) in views.iter().enumerate() {
                    validate_view(view, *dims, *beam)
                        .map_err(|reason| Error::param("views", format!("view {k}: {reason}")))?;
                }
                Ok(())
            }
        }
    }

    /// 2 or 3.
    pub fn dims(&self) -> usize {
        match self {
            ScanGeometry::Parallel2d { .. } | ScanGeometry::Fan2d { .. } => 2,
            ScanGeometry::Parallel3d { .. } | ScanGeometry::Cone { .. } => 3,
            ScanGeometry::Vector { dims, .. } => *dims,
        }
    }

    /// Number of views.
    pub fn views(&self) -> usize {
        match self {
            ScanGeometry::Parallel2d { angles, .. }
            | ScanGeometry::Fan2d { angles, .. }
            | ScanGeometry::Parallel3d { angles, .. }
            | ScanGeometry::Cone { angles, .. } => angles.len(),
            ScanGeometry::Vector { views, .. } => views.len(),
        }
    }

    /// View angles (radians) of a circular geometry; `None` for vector geometries.
    pub fn angles(&self) -> Option<&[f64]> {
        match self {
            ScanGeometry::Parallel2d { angles, .. }
            | ScanGeometry::Fan2d { angles, .. }
            | ScanGeometry::Parallel3d { angles, .. }
            | ScanGeometry::Cone { angles, .. } => Some(angles),
            ScanGeometry::Vector { .. } => None,
        }
    }

    /// Detector `(rows, cols)`.
    pub fn detector_shape(&self) -> (usize, usize) {
        match self {
            ScanGeometry::Parallel2d { detector, .. }
            | ScanGeometry::Fan2d { detector, .. }
            | ScanGeometry::Parallel3d { detector, .. }
            | ScanGeometry::Cone { detector, .. } => (detector.rows, detector.cols),
            ScanGeometry::Vector { rows, cols, .. } => (*rows, *cols),
        }
    }

    /// Shape of the projection array: `[views, cols]` in 2D, `[views, rows, cols]` in 3D.
    pub fn projection_shape(&self) -> Vec<usize> {
        let (rows, cols) = self.detector_shape();
        if self.dims() == 2 { vec![self.views(), cols] } else { vec![self.views(), rows, cols] }
    }

    /// Shape of images on `grid` for this geometry: `[ny, nx]` in 2D, `[nz, ny, nx]` in 3D.
    pub fn image_shape(&self, grid: &ImageGrid) -> Result<Vec<usize>> {
        let [nz, ny, nx] = grid.shape;
        if let ScanGeometry::Fan2d { source_origin, .. }
        | ScanGeometry::Cone { source_origin, .. } = self
        {
            // A source inside the grid would measure half-lines from inside the object.
            let half = |n: usize, s: f64, c: f64| c.abs() + n as f64 * s / 2.0;
            let (x, y) = (
                half(nx, grid.spacing[0], grid.centre[0]),
                half(ny, grid.spacing[1], grid.centre[1]),
            );
            let corner = x.hypot(y);
            if *source_origin <= corner {
                return Err(Error::param(
                    "source_origin",
                    format!(
                        "the source circles the rotation axis at {source_origin} mm, inside the \
                         image grid (whose corners reach {corner:.1} mm from the axis)"
                    ),
                ));
            }
        }
        if let ScanGeometry::Vector { beam: Beam::Cone, views, dims, .. } = self {
            // The same for focal spots given per view: none may lie in the grid's box.
            let axes = if *dims == 2 { 2 } else { 3 };
            let inside = |p: &Vec3| {
                (0..axes).all(|a| {
                    let half = grid.shape[2 - a] as f64 * grid.spacing[a] / 2.0;
                    (p[a] - grid.centre[a]).abs() < half
                })
            };
            if let Some(k) = views.iter().position(|v| inside(&v.source)) {
                return Err(Error::param(
                    "views",
                    format!(
                        "the source of view {k} at {:?} mm lies inside the image grid",
                        views[k].source
                    ),
                ));
            }
        }
        if self.dims() == 2 {
            if nz != 1 {
                return Err(Error::param(
                    "image grid",
                    format!("a 2D geometry needs nz = 1, found {nz}"),
                ));
            }
            Ok(vec![ny, nx])
        } else {
            Ok(vec![nz, ny, nx])
        }
    }

    /// The geometry restricted to the views `indices` (in that order), for ordered subsets.
    pub fn select_views(&self, indices: &[usize]) -> Result<Self> {
        if let Some(&k) = indices.iter().find(|&&k| k >= self.views()) {
            return Err(Error::param(
                "views",
                format!("view {k} does not exist ({} views)", self.views()),
            ));
        }
        let pick = |angles: &[f64]| indices.iter().map(|&k| angles[k]).collect::<Vec<_>>();
        let mut g = self.clone();
        match &mut g {
            ScanGeometry::Parallel2d { angles, .. }
            | ScanGeometry::Fan2d { angles, .. }
            | ScanGeometry::Parallel3d { angles, .. }
            | ScanGeometry::Cone { angles, .. } => *angles = pick(angles),
            ScanGeometry::Vector { views, .. } => {
                *views = indices.iter().map(|&k| views[k]).collect();
            }
        }
        g.validate()?;
        Ok(g)
    }

    /// The internal per-view frames.
    pub(crate) fn frames(&self) -> Vec<Frame> {
        let ez = [0.0, 0.0, 1.0];
        match self {
            ScanGeometry::Parallel2d { angles, detector }
            | ScanGeometry::Parallel3d { angles, detector } => angles
                .iter()
                .map(|&a| {
                    let (c, eu) = rotation_frame(a);
                    Frame::Flat {
                        source: None,
                        ray: c,
                        centre: add_scaled(scale(eu, detector.col_offset), detector.row_offset, ez),
                        u: scale(eu, detector.col_spacing),
                        v: if self.dims() == 2 {
                            [0.0; 3]
                        } else {
                            scale(ez, detector.row_spacing)
                        },
                    }
                })
                .collect(),
            ScanGeometry::Fan2d { angles, detector, source_origin, source_detector, arc } => angles
                .iter()
                .map(|&a| {
                    let (c, eu) = rotation_frame(a);
                    let source = scale(c, -source_origin);
                    if *arc {
                        Frame::Arc {
                            source,
                            central: c,
                            across: eu,
                            gamma0: detector.col_offset / source_detector,
                            dgamma: detector.col_spacing / source_detector,
                        }
                    } else {
                        let centre = add_scaled(
                            scale(c, source_detector - source_origin),
                            detector.col_offset,
                            eu,
                        );
                        Frame::Flat {
                            source: Some(source),
                            ray: c,
                            centre,
                            u: scale(eu, detector.col_spacing),
                            v: [0.0; 3],
                        }
                    }
                })
                .collect(),
            ScanGeometry::Cone { angles, detector, source_origin, source_detector } => angles
                .iter()
                .map(|&a| {
                    let (c, eu) = rotation_frame(a);
                    let centre = add_scaled(
                        add_scaled(
                            scale(c, source_detector - source_origin),
                            detector.col_offset,
                            eu,
                        ),
                        detector.row_offset,
                        ez,
                    );
                    Frame::Flat {
                        source: Some(scale(c, -source_origin)),
                        ray: c,
                        centre,
                        u: scale(eu, detector.col_spacing),
                        v: scale(ez, detector.row_spacing),
                    }
                })
                .collect(),
            ScanGeometry::Vector { beam, views, .. } => views
                .iter()
                .map(|w| match beam {
                    Beam::Parallel => Frame::Flat {
                        source: None,
                        ray: scale(w.source, 1.0 / norm(w.source)),
                        centre: w.detector,
                        u: w.u,
                        v: w.v,
                    },
                    Beam::Cone => {
                        let towards = sub(w.detector, w.source);
                        let ray = scale(towards, 1.0 / norm(towards));
                        Frame::Flat {
                            source: Some(w.source),
                            ray,
                            centre: w.detector,
                            u: w.u,
                            v: w.v,
                        }
                    }
                })
                .collect(),
        }
    }

    /// The ray through detector pixel `(row, col)` (continuous indices) of view `view`.
    pub fn ray(&self, view: usize, row: f64, col: f64) -> Result<Ray> {
        if view >= self.views() {
            return Err(Error::param("view", format!("{view} of {} views", self.views())));
        }
        let (rows, cols) = self.detector_shape();
        Ok(self.frames()[view].ray(rows, cols, row, col))
    }

    /// The geometry as per-view vectors (source, detector centre, `u`, `v`). Arc detectors have
    /// no vector form (their pixels do not lie on a plane) and return an error.
    pub fn to_vectors(&self) -> Result<ScanGeometry> {
        if let ScanGeometry::Vector { .. } = self {
            return Ok(self.clone());
        }
        let (rows, cols) = self.detector_shape();
        let mut beam = Beam::Parallel;
        let mut views = Vec::with_capacity(self.views());
        for frame in self.frames() {
            match frame {
                Frame::Flat { source, ray, centre, u, v } => {
                    beam = if source.is_some() { Beam::Cone } else { Beam::Parallel };
                    views.push(ViewVectors {
                        source: source.unwrap_or(ray),
                        detector: centre,
                        u,
                        v,
                    });
                }
                Frame::Arc { .. } => {
                    return Err(Error::param(
                        "geometry",
                        "an arc detector has no flat-panel vector form",
                    ));
                }
            }
        }
        ScanGeometry::vector(self.dims(), beam, rows, cols, views)
    }

    /// ASTRA's vector description: the geometry type (`parallel_vec`, `fanflat_vec`,
    /// `parallel3d_vec`, `cone_vec`) and one row per view (6 numbers in 2D, 12 in 3D).
    ///
    /// ASTRA's 2D volumes put row 0 at the top (`y` pointing up) where ours grow `y` with the row
    /// index, so 2D vectors are mirrored in `y`: the same image array then gives the same
    /// sinogram in both (checked against ASTRA by `benches/peers/ct_astra.py`). ASTRA's 3D
    /// volumes share our axes. ASTRA stores 3D projections as `[rows, views, cols]`.
    pub fn to_astra(&self) -> Result<(&'static str, Vec<Vec<f64>>)> {
        let ScanGeometry::Vector { dims, beam, views, .. } = self.to_vectors()? else {
            return Err(Error::param("geometry", "no vector form"));
        };
        let kind = match (dims, beam) {
            (2, Beam::Parallel) => "parallel_vec",
            (2, Beam::Cone) => "fanflat_vec",
            (_, Beam::Parallel) => "parallel3d_vec",
            (_, Beam::Cone) => "cone_vec",
        };
        let rows = views
            .iter()
            .map(|w| {
                if dims == 2 {
                    vec![w.source[0], -w.source[1], w.detector[0], -w.detector[1], w.u[0], -w.u[1]]
                } else {
                    [w.source, w.detector, w.u, w.v].concat()
                }
            })
            .collect();
        Ok((kind, rows))
    }

    /// The inverse of [`to_astra`](Self::to_astra): a vector geometry from ASTRA's type name,
    /// detector size and rows.
    pub fn from_astra(kind: &str, rows: usize, cols: usize, vectors: &[Vec<f64>]) -> Result<Self> {
        let (dims, beam) = match kind {
            "parallel_vec" => (2, Beam::Parallel),
            "fanflat_vec" => (2, Beam::Cone),
            "parallel3d_vec" => (3, Beam::Parallel),
            "cone_vec" => (3, Beam::Cone),
            other => {
                return Err(Error::param("kind", format!("unknown ASTRA vector type {other:?}")));
            }
        };
        let width = if dims == 2 { 6 } else { 12 };
        let mut views = Vec::with_capacity(vectors.len());
        for (k, r) in vectors.iter().enumerate() {
            if r.len() != width {
                return Err(Error::param(
                    "vectors",
                    format!("view {k} has {} numbers, {kind} needs {width}", r.len()),
                ));
            }
            views.push(if dims == 2 {
                ViewVectors {
                    source: [r[0], -r[1], 0.0],
                    detector: [r[2], -r[3], 0.0],
                    u: [r[4], -r[5], 0.0],
                    v: [0.0; 3],
                }
            } else {
                ViewVectors {
                    source: [r[0], r[1], r[2]],
                    detector: [r[3], r[4], r[5]],
                    u: [r[6], r[7], r[8]],
                    v: [r[9], r[10], r[11]],
                }
            });
        }
        ScanGeometry::vector(dims, beam, if dims == 2 { 1 } else { rows }, cols, views)
    }
}

fn validate_view(w: &ViewVectors, dims: usize, beam: Beam) -> std::result::Result<(), String> {
    let all = [w.source, w.detector, w.u, w.v];
    if all.iter().flatten().any(|c| !c.is_finite()) {
        return Err("vectors must be finite".into());
    }
    if dims == 2 && all.iter().any(|a| a[2] != 0.0) {
        return Err("2D vectors must have z = 0".into());
    }
    if norm(w.u) == 0.0 || (dims == 3 && norm(cross(w.u, w.v)) == 0.0) {
        return Err("u (and v in 3D) must span the detector".into());
    }
    let normal = if dims == 2 { cross(w.u, [0.0, 0.0, 1.0]) } else { cross(w.u, w.v) };
    match beam {
        Beam::Parallel if dot(w.source, normal).abs() < 1e-12 * norm(w.source) * norm(normal) => {
            Err("rays run parallel to the detector".into())
        }
        Beam::Parallel if norm(w.source) == 0.0 => Err("ray direction is zero".into()),
        Beam::Cone if dot(sub(w.detector, w.source), normal).abs() == 0.0 => {
            Err("the source lies in the detector plane".into())
        }
        _ => Ok(()),
    }
}

mod angles {
    //! Angles in a geometry file: a list of radians, or `{ count, span_degrees, start_degrees }`.
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(
        untagged,
        deny_unknown_fields,
        expecting = "angles as a list of radians or as { count, span_degrees, start_degrees } \
                     (start_degrees optional; no other keys)"
    )]
    enum Spec {
        List(Vec<f64>),
        Uniform {
            count: usize,
            span_degrees: f64,
            #[serde(default)]
            start_degrees: f64,
        },
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(match Spec::deserialize(d)? {
            Spec::List(v) => v,
            Spec::Uniform { count, span_degrees, start_degrees } => {
                if count > super::MAX_COUNT {
                    return Err(serde::de::Error::custom(format!("{count} views is too many")));
                }
                super::uniform_angles(count, start_degrees.to_radians(), span_degrees.to_radians())
            }
        })
    }
}
