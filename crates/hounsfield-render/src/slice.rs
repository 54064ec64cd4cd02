//! Orthogonal slices, montages and maximum-intensity projections, with physical proportions.
//!
//! Planes follow the volume's index axes: axial is the (i, j) plane at a given k, coronal
//! (i, k), sagittal (j, k). Rows run along +j (axial) or, for planes containing k, from high k
//! to low (so a patient read in LPS/RAS order has the head at the top). Pixels are square in
//! millimetres: anisotropic voxels are resampled (linearly) to the smaller in-plane spacing.

use hounsfield_core::{Element, Error, Result, Volume};
use serde::{Deserialize, Serialize};

use crate::image::RgbImage;

/// A plane of the index axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plane {
    /// (i, j) at fixed k.
    Axial,
    /// (i, k) at fixed j.
    Coronal,
    /// (j, k) at fixed i.
    Sagittal,
}

impl Plane {
    /// `(across, down, through)` index axes (0 = i, 1 = j, 2 = k) and whether rows run from
    /// high to low index.
    pub(crate) fn axes(self) -> (usize, usize, usize, bool) {
        match self {
            Plane::Axial => (0, 1, 2, false),
            Plane::Coronal => (0, 2, 1, true),
            Plane::Sagittal => (1, 2, 0, true),
        }
    }

    /// The index axis normal to the plane (0 = i, 1 = j, 2 = k).
    pub fn normal_axis(self) -> usize {
        self.axes().2
    }

    /// Parses `axial`, `coronal`, `sagittal`.
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "axial" => Ok(Plane::Axial),
            "coronal" => Ok(Plane::Coronal),
            "sagittal" => Ok(Plane::Sagittal),
            other => {
                Err(Error::param("plane", format!("{other:?} is not axial, coronal or sagittal")))
            }
        }
    }
}

pub use hounsfield_core::display::Window;

/// A label overlay: a label volume (same grid) blended over the picture.
#[derive(Clone, Copy, Debug)]
pub struct Overlay<'a> {
    /// Labels; 0 is transparent.
    pub labels: &'a Volume<u8>,
    /// Opacity of the label colours (0..=1).
    pub opacity: f64,
}

/// Colour of label `l` (1 red, 2 green, 3 blue, 4 yellow, 5 orange, 6 purple, 7 cyan,
/// 8 magenta; then 108 more, twelve hues 30 degrees apart at nine saturation/brightness pairs,
/// so that the labels of an atlas or a whole-body segmentation (TotalSegmentator's 117) stay
/// distinct; the cycle repeats after 116). 0 is taken as 1.
pub fn label_colour(l: u8) -> [u8; 3] {
    const COLOURS: [[u8; 3]; 8] = [
        [230, 25, 75],
        [60, 180, 75],
        [0, 130, 200],
        [255, 225, 25],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
    ];
    const LEVELS: [(f64, f64); 9] = [
        (0.45, 0.95),
        (0.9, 0.6),
        (0.25, 0.8),
        (0.6, 0.45),
        (0.9, 0.8),
        (0.45, 0.65),
        (0.25, 0.55),
        (0.6, 0.95),
        (0.9, 0.4),
    ];
    let k = (usize::from(l).max(1) - 1) % (COLOURS.len() + 12 * LEVELS.len());
    if k < COLOURS.len() {
        return COLOURS[k];
    }
    let n = k - COLOURS.len();
    let hue = (n % 12) as f64 * 30.0 / 60.0;
    let (saturation, value) = LEVELS[n / 12];
    // HSV to RGB.
    let chroma = value * saturation;
    let x = chroma * (1.0 - (hue.rem_euclid(2.0) - 1.0).abs());
    let (r, g, b) = match hue as u32 {
        0 => (chroma, x, 0.0),
        1 => (x, chroma, 0.0),
        2 => (0.0, chroma, x),
        3 => (0.0, x, chroma),
        4 => (x, 0.0, chroma),
        _ => (chroma, 0.0, x),
    };
    let m = value - chroma;
    [r, g, b].map(|c| ((c + m) * 255.0).round() as u8)
}

/// Output size and the index-space step per output pixel for a plane.
fn layout<T: Element>(volume: &Volume<T>, plane: Plane) -> (usize, usize, f64, f64) {
    let (a, b, _, _) = plane.axes();
    let sizes = volume.size_xyz();
    let sp = volume.geometry().spacing();
    let pixel = sp[a].min(sp[b]);
    let w = ((sizes[a] as f64 * sp[a] / pixel).round() as usize).max(1);
    let h = ((sizes[b] as f64 * sp[b] / pixel).round() as usize).max(1);
    (w, h, pixel / sp[a], pixel / sp[b])
}

/// Linear interpolation of a 2D field `f(u, v)` (u fastest) at continuous `(u, v)`, clamped.
fn bilinear(values: &[f32], nu: usize, nv: usize, u: f64, v: f64) -> f64 {
    let u = u.clamp(0.0, (nu - 1) as f64);
    let v = v.clamp(0.0, (nv - 1) as f64);
    let (u0, v0) = (u.floor() as usize, v.floor() as usize);
    let (u1, v1) = ((u0 + 1).min(nu - 1), (v0 + 1).min(nv - 1));
    let (fu, fv) = (u - u0 as f64, v - v0 as f64);
    let at = |a: usize, b: usize| f64::from(values[b * nu + a]);
    let top = at(u0, v0) * (1.0 - fu) + at(u1, v0) * fu;
    let bottom = at(u0, v1) * (1.0 - fu) + at(u1, v1) * fu;
    top * (1.0 - fv) + bottom * fv
}

/// The values of plane `plane` at position `index` along its normal, `u` fastest.
fn plane_values<T: Element>(
    volume: &Volume<T>,
    plane: Plane,
    index: usize,
) -> (Vec<f32>, usize, usize) {
    let (a, b, c, _) = plane.axes();
    let s = volume.size_xyz();
    let data = volume.view();
    let mut out = Vec::with_capacity(s[a] * s[b]);
    for vb in 0..s[b] {
        for ua in 0..s[a] {
            let mut ijk = [0usize; 3];
            ijk[a] = ua;
            ijk[b] = vb;
            ijk[c] = index;
            out.push(data[[ijk[2], ijk[1], ijk[0]]].to_f64() as f32);
        }
    }
    (out, s[a], s[b])
}

/// Renders a 2D field of the plane's index grid with physical proportions.
fn render_field<T: Element>(
    volume: &Volume<T>,
    plane: Plane,
    field: &[f32],
    window: &Window,
    labels: Option<(&[f32], f64)>,
) -> RgbImage {
    let (a, b, _, flip) = plane.axes();
    let s = volume.size_xyz();
    let (nu, nv) = (s[a], s[b]);
    let (w, h, du, dv) = layout(volume, plane);
    let mut img = RgbImage::new(w, h, [0, 0, 0]);
    for y in 0..h {
        let row = if flip { h - 1 - y } else { y };
        let v = (row as f64 + 0.5) * dv - 0.5;
        for x in 0..w {
            let u = (x as f64 + 0.5) * du - 0.5;
            let g = window.grey(bilinear(field, nu, nv, u, v));
            let mut colour = [g; 3];
            if let Some((l, opacity)) = labels {
                // Nearest label: labels do not interpolate.
                let (ui, vi) = (
                    u.round().clamp(0.0, (nu - 1) as f64) as usize,
                    v.round().clamp(0.0, (nv - 1) as f64) as usize,
                );
                let label = l[vi * nu + ui] as u8;
                if label != 0 {
                    let c = label_colour(label);
                    colour = std::array::from_fn(|k| {
                        (f64::from(colour[k]) * (1.0 - opacity) + f64::from(c[k]) * opacity).round()
                            as u8
                    });
                }
            }
            img.set(x, y, colour);
        }
    }
    img
}

/// One slice, windowed, with an optional label overlay.
pub fn slice_image<T: Element>(
    volume: &Volume<T>,
    plane: Plane,
    index: usize,
    window: &Window,
    overlay: Option<Overlay<'_>>,
) -> Result<RgbImage> {
    let (_, _, c, _) = plane.axes();
    let n = volume.size_xyz()[c];
    if index >= n {
        return Err(Error::param(
            "slice",
            format!("{index} is beyond the {n} slices of the {plane:?} axis"),
        ));
    }
    if let Some(o) = overlay {
        volume.check_same_shape(o.labels, "overlay labels")?;
    }
    let (field, _, _) = plane_values(volume, plane, index);
    let labels =
        overlay.map(|o| (plane_values(o.labels, plane, index).0, o.opacity.clamp(0.0, 1.0)));
    Ok(render_field(
        volume,
        plane,
        &field,
        window,
        labels.as_ref().map(|(l, o)| (l.as_slice(), *o)),
    ))
}

/// `count` slices evenly spaced through the volume along the plane's normal, tiled row by row
/// in `columns` columns on a black background with 2-pixel gaps.
pub fn montage<T: Element>(
    volume: &Volume<T>,
    plane: Plane,
    count: usize,
    columns: usize,
    window: &Window,
    overlay: Option<Overlay<'_>>,
) -> Result<RgbImage> {
    if count == 0 || columns == 0 {
        return Err(Error::param("montage", "needs at least one slice and one column"));
    }
    let (_, _, c, _) = plane.axes();
    let n = volume.size_xyz()[c];
    let tiles: Vec<RgbImage> = (0..count)
        .map(|k| {
            let index = (((k as f64 + 1.0) * n as f64 / (count as f64 + 1.0)) as usize).min(n - 1);
            slice_image(volume, plane, index, window, overlay)
        })
        .collect::<Result<_>>()?;
    let (tw, th) = (tiles[0].width, tiles[0].height);
    let rows = count.div_ceil(columns);
    let gap = 2;
    let cols = columns.min(count);
    let mut img = RgbImage::new(cols * (tw + gap) - gap, rows * (th + gap) - gap, [0, 0, 0]);
    for (k, tile) in tiles.iter().enumerate() {
        img.paste(tile, (k % columns) * (tw + gap), (k / columns) * (th + gap));
    }
    Ok(img)
}

/// The maximum of the volume along the plane's normal, on the plane's index grid (`u`
/// fastest): the raw values a MIP picture shows.
pub fn mip_values<T: Element>(volume: &Volume<T>, plane: Plane) -> (Vec<f32>, usize, usize) {
    let (_, _, c, _) = plane.axes();
    let n = volume.size_xyz()[c];
    let (mut best, nu, nv) = plane_values(volume, plane, 0);
    for index in 1..n {
        let (layer, _, _) = plane_values(volume, plane, index);
        for (b, v) in best.iter_mut().zip(layer) {
            if v > *b {
                *b = v;
            }
        }
    }
    (best, nu, nv)
}

/// Maximum-intensity projection along the plane's normal, windowed, with physical proportions.
pub fn mip<T: Element>(volume: &Volume<T>, plane: Plane, window: &Window) -> RgbImage {
    let (field, _, _) = mip_values(volume, plane);
    render_field(volume, plane, &field, window, None)
}
