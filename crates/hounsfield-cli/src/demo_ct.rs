//! `hounsfield demo --ct`: a real CT (in HU) to a montage with the structures overlaid, a bone
//! volume rendering at full resolution, every structure's surface in one coloured PLY/GLB and a
//! picture of those surfaces.
//!
//! The structures come from a label file on the CT's grid (each label value one structure, or
//! label values grouped into named classes by a `classes` table, the same table a segmentation
//! configuration's `[data]` holds) or, without one, from classical operations: the lungs
//! (`hounsfield_filter::lung`) and everything at or above 250 HU (bone, calcifications and
//! iodine contrast alike: the threshold cannot tell them apart, and the name says so). When the
//! classes name `lungs`, the classical lung mask is scored against them (Dice).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use hounsfield_core::{Camera, Projection, Volume, Window};
use hounsfield_mesh::TriMesh;
use hounsfield_render::{
    DvrOptions, Overlay, Plane, Surface, TransferFunction, View, label_colour, montage,
    render_view, volume_render,
};
use serde::{Deserialize, Serialize};

use crate::segment_data::{ClassGroup, group_labels};

/// Voxels at or above this (HU) make the classical "dense" structure: cortical bone lies at
/// 300-1900 HU, trabecular bone from ~200, iodinated blood at 150-400.
pub const DENSE_FROM_HU: f32 = 250.0;

/// Surfaces with fewer triangles are neither smoothed nor decimated; decimation leaves at least
/// this many.
const MIN_TRIANGLES: usize = 5000;

/// The Gaussian that smooths each structure's mask before its isosurface: this many voxels
/// per axis, at least [`SMOOTH_SIGMA_MIN_MM`].
const SMOOTH_SIGMA_VOXELS: f64 = 0.6;
const SMOOTH_SIGMA_MIN_MM: f64 = 1.0;

/// A CT holds air near -1000 HU; a volume with nothing below this is not a CT in HU.
const AIR_BELOW_HU: f32 = -500.0;

/// Fraction of each surface's triangles kept by decimation (the surfaces of a 0.7 mm CT have
/// millions of triangles; a quarter keeps the shape within a fraction of a voxel).
const KEEP_TRIANGLES: f64 = 0.25;

/// Where the structures come from.
#[derive(Clone, Debug, Default)]
pub struct CtDemoInputs {
    /// A label file on the CT's grid (integer values 0..=255).
    pub labels: Option<PathBuf>,
    /// A TOML file with a `classes` table (top level or under `[data]`) grouping label values.
    pub classes: Option<PathBuf>,
}

/// One structure drawn and meshed.
#[derive(Clone, Debug, Serialize)]
pub struct Structure {
    /// Its value in the structure volume written (`structures.nii.gz`).
    pub label: u8,
    /// Its name.
    pub name: String,
    /// Its colour in the montage, the surfaces and their picture (sRGB).
    pub colour: [u8; 3],
    /// Volume from the voxel count, ml.
    pub volume_ml: f64,
    /// Triangles of its surface after decimation (0 when it has no voxel).
    pub triangles: usize,
    /// Volume enclosed by its surface, ml.
    pub surface_ml: f64,
    /// Its surface is closed, manifold and consistently wound (absent when it has no voxel).
    pub watertight: Option<bool>,
}

/// The classical lung mask scored against the classes' `lungs`.
#[derive(Clone, Debug, Serialize)]
pub struct LungBaseline {
    /// Dice of the classical mask against the labelled lungs.
    pub dice: f64,
    /// Volume of the classical mask, ml.
    pub classical_ml: f64,
    /// Volume of the labelled lungs, ml.
    pub labelled_ml: f64,
}

/// What `demo --ct` did.
#[derive(Clone, Debug, Serialize)]
pub struct CtDemoResults {
    /// The CT.
    pub input: String,
    /// Voxels (x, y, z).
    pub size: [usize; 3],
    /// Voxel size (x, y, z), mm.
    pub spacing_mm: [f64; 3],
    /// `labels` (from the label file) or `classical`.
    pub source: String,
    /// The structures, in label order.
    pub structures: Vec<Structure>,
    /// The classical lung mask against labelled lungs, when the classes name them.
    pub lung_baseline: Option<LungBaseline>,
    /// Every surface made is closed, manifold and consistently wound.
    pub watertight: bool,
    /// Files written.
    pub files: Vec<String>,
    /// Seconds per step: structures, surfaces, pictures.
    pub seconds: [f64; 3],
}

impl std::fmt::Display for CtDemoResults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [x, y, z] = self.size;
        let [sx, sy, sz] = self.spacing_mm;
        writeln!(
            f,
            "CT demo on {} ({x} x {y} x {z} voxels of {sx:.2} x {sy:.2} x {sz:.2} mm)",
            self.input
        )?;
        writeln!(f, "  structures ({}):", self.source)?;
        for s in &self.structures {
            if s.watertight.is_none() {
                writeln!(f, "    {:>3} {:<36} absent (no voxel)", s.label, s.name)?;
                continue;
            }
            writeln!(
                f,
                "    {:>3} {:<36} {:>8.1} ml, surface {:>8} triangles enclosing {:.1} ml",
                s.label, s.name, s.volume_ml, s.triangles, s.surface_ml
            )?;
        }
        if let Some(b) = &self.lung_baseline {
            writeln!(
                f,
                "  classical lung mask: Dice {:.4} against the labelled lungs ({:.0} ml vs {:.0} ml)",
                b.dice, b.classical_ml, b.labelled_ml
            )?;
        }
        writeln!(f, "  surfaces watertight: {}", self.watertight)?;
        if self.files.is_empty() {
            writeln!(f, "  nothing written: --out DIR keeps the pictures, meshes and structures")?;
        } else {
            writeln!(f, "  wrote: {}", self.files.join(", "))?;
        }
        let [a, b, c] = self.seconds;
        writeln!(f, "  seconds: structures {a:.1}, surfaces {b:.1}, pictures {c:.1}")
    }
}

/// The `classes` table of a TOML file: at the top level or under `[data]` (so a segmentation
/// configuration serves as it is).
pub fn read_classes(path: &Path) -> Result<Vec<ClassGroup>> {
    #[derive(Deserialize)]
    struct Data {
        classes: Option<Vec<ClassGroup>>,
    }
    #[derive(Deserialize)]
    struct File {
        classes: Option<Vec<ClassGroup>>,
        data: Option<Data>,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: File = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let classes = match (file.classes, file.data.and_then(|d| d.classes)) {
        (Some(c), None) | (None, Some(c)) => c,
        (Some(_), Some(_)) => bail!("{}: `classes` both at the top and in [data]", path.display()),
        (None, None) => bail!("{}: no `classes` table (top level or in [data])", path.display()),
    };
    if classes.is_empty() || classes.len() > 255 {
        bail!("{}: {} classes (1 to 255 are possible)", path.display(), classes.len());
    }
    let mut owner = [None::<&str>; 256];
    for (k, c) in classes.iter().enumerate() {
        if c.name.trim().is_empty() {
            bail!("{}: class {} has no name", path.display(), k + 1);
        }
        if classes[..k].iter().any(|other| other.name == c.name) {
            bail!("{}: the class name {:?} is used twice", path.display(), c.name);
        }
        if c.labels.is_empty() {
            bail!("{}: class {:?} lists no label value", path.display(), c.name);
        }
        for &v in &c.labels {
            if v == 0 {
                bail!("{}: class {:?} lists 0, the background", path.display(), c.name);
            }
            match owner[usize::from(v)].replace(&c.name) {
                Some(other) if other == c.name => {
                    bail!("{}: class {:?} lists label value {v} twice", path.display(), c.name)
                }
                Some(other) => bail!(
                    "{}: label value {v} is in two classes ({other:?} and {:?})",
                    path.display(),
                    c.name
                ),
                None => {}
            }
        }
    }
    Ok(classes)
}

/// Runs the CT path on `input`, writing into `out` when given.
pub fn run_ct(input: &Path, inputs: &CtDemoInputs, out: Option<&Path>) -> Result<CtDemoResults> {
    let clock = Instant::now();
    if let Some(dir) = out {
        check_output_dir(dir)?;
    }
    let ct = hounsfield_io::open_volume(input)?;
    check_hounsfield_units(&ct, input)?;
    let voxel_ml = ct.geometry().voxel_volume() / 1000.0;
    let (structures, names, source) = structures_of(&ct, input, inputs)?;
    // The classical lung mask, scored where the classes say which structure the lungs are.
    let lung_baseline = match names.iter().position(|n| n.eq_ignore_ascii_case("lungs")) {
        Some(k) if inputs.labels.is_some() => {
            let classical = hounsfield_filter::lung::lung_mask(&ct)
                .with_context(|| format!("lung mask of {}", input.display()))?;
            let lungs = structures.map(|l| u8::from(usize::from(l) == k + 1));
            Some(LungBaseline {
                dice: hounsfield_core::metrics::dice(&lungs, &classical)?,
                classical_ml: count(&classical) as f64 * voxel_ml,
                labelled_ml: count(&lungs) as f64 * voxel_ml,
            })
        }
        _ => None,
    };
    let t_structures = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let boxes = bounding_boxes(&structures, names.len());
    let mut report = Vec::with_capacity(names.len());
    let mut merged = TriMesh::default();
    let mut colours = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let label = (k + 1) as u8;
        let mut structure = Structure {
            label,
            name: name.clone(),
            colour: label_colour(label),
            volume_ml: boxes[k].as_ref().map_or(0, |b| b.voxels) as f64 * voxel_ml,
            triangles: 0,
            surface_ml: 0.0,
            watertight: None,
        };
        if let Some(b) = &boxes[k] {
            let mesh = structure_surface(&structures, label, b)
                .with_context(|| format!("surface of {name} in {}", input.display()))?;
            let stats = mesh.stats();
            structure.triangles = stats.triangles;
            structure.surface_ml = stats.volume / 1000.0;
            structure.watertight = Some(stats.is_watertight());
            let base = u32::try_from(merged.vertices.len()).context("more than 2^32 vertices")?;
            colours.extend(std::iter::repeat_n(structure.colour, mesh.vertices.len()));
            merged.vertices.extend(&mesh.vertices);
            merged.triangles.extend(mesh.triangles.iter().map(|t| t.map(|i| i + base)));
        }
        report.push(structure);
    }
    if merged.triangles.is_empty() {
        bail!("{}: no structure has a voxel", input.display());
    }
    merged.colours = Some(colours);
    let watertight = report.iter().all(|s| s.watertight != Some(false));
    let t_surfaces = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let pictures = [
        ("ct_montage.png", structure_montage(&ct, &structures)?),
        ("ct_bone_dvr.png", bone_rendering(&ct)?),
        ("ct_structures.png", surfaces_picture(&merged)?),
    ];
    let mut files = Vec::new();
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, picture) in &pictures {
            picture.write_png(&dir.join(name))?;
            files.push((*name).to_owned());
        }
        for name in [OUTPUTS[3], OUTPUTS[4]] {
            hounsfield_mesh::io::write_mesh(&dir.join(name), &merged)?;
            files.push(name.to_owned());
        }
        let image = hounsfield_io::nifti::NiftiImage::from_volume(structures.clone());
        hounsfield_io::nifti::write_nifti(dir.join("structures.nii.gz"), &image)?;
        files.push("structures.nii.gz".to_owned());
    }
    let [x, y, z] = ct.size_xyz();
    let spacing = ct.geometry().spacing();
    Ok(CtDemoResults {
        input: input.display().to_string(),
        size: [x, y, z],
        spacing_mm: spacing,
        source: source.to_owned(),
        structures: report,
        lung_baseline,
        watertight,
        files,
        seconds: [t_structures, t_surfaces, clock.elapsed().as_secs_f64()],
    })
}

/// The names written into the output directory.
const OUTPUTS: [&str; 6] = [
    "ct_montage.png",
    "ct_bone_dvr.png",
    "ct_structures.png",
    "ct_structures.ply",
    "ct_structures.glb",
    "structures.nii.gz",
];

/// Refuses, before any work, an output directory that is a file or holds a directory where an
/// output goes (the outputs would be written in part).
fn check_output_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("{}: --out must be a directory; this is a file", dir.display());
    }
    if let Some(name) = OUTPUTS.iter().find(|name| dir.join(name).is_dir()) {
        bail!("{}: a directory stands where the output is to be written", dir.join(name).display());
    }
    Ok(())
}

/// Refuses a volume that cannot be a CT in Hounsfield units: a value that is not finite, or
/// nothing as dark as air.
fn check_hounsfield_units(ct: &Volume<f32>, input: &Path) -> Result<()> {
    if let Some(i) = ct.as_slice().iter().position(|v| !v.is_finite()) {
        let [nx, ny, _] = ct.size_xyz();
        bail!(
            "{}: value {} at voxel (x, y, z) = ({}, {}, {}) is not finite",
            input.display(),
            ct.as_slice()[i],
            i % nx,
            (i / nx) % ny,
            i / (nx * ny)
        );
    }
    let min = ct.as_slice().iter().copied().fold(f32::INFINITY, f32::min);
    if min >= AIR_BELOW_HU {
        bail!(
            "{}: no voxel below {AIR_BELOW_HU} HU (lowest {min}): not a CT in Hounsfield units, where air is -1000",
            input.display()
        );
    }
    Ok(())
}

/// A label file's values as `u8`: integers 0..=255, or refused by name.
fn read_structure_labels(path: &Path) -> Result<Volume<u8>> {
    let v = crate::segment_data::read_f32(path)?;
    if let Some(bad) = v
        .as_slice()
        .iter()
        .find(|x| !(x.is_finite() && (0.0..=255.0).contains(*x) && x.fract() == 0.0))
    {
        bail!(
            "{}: label value {bad} is not an integer in 0..=255 (up to 255 structures; a mask of probabilities needs thresholding first: hounsfield filter threshold)",
            path.display()
        );
    }
    Ok(v.map(|x| x as u8))
}

/// The structure volume (1..=K), the structures' names and where they came from.
fn structures_of(
    ct: &Volume<f32>,
    input: &Path,
    inputs: &CtDemoInputs,
) -> Result<(Volume<u8>, Vec<String>, &'static str)> {
    let Some(labels_path) = &inputs.labels else {
        if inputs.classes.is_some() {
            bail!("--classes groups the values of a label file: give one with --labels");
        }
        let lungs = hounsfield_filter::lung::lung_mask(ct)
            .with_context(|| format!("lung mask of {}", input.display()))?;
        let structures = Volume::from_vec(
            ct.shape(),
            ct.as_slice()
                .iter()
                .zip(lungs.as_slice())
                .map(|(&hu, &lung)| if lung != 0 { 1 } else { 2 * u8::from(hu >= DENSE_FROM_HU) })
                .collect(),
            ct.geometry().clone(),
        )?;
        let names =
            vec!["lungs".to_owned(), format!("dense (>= {DENSE_FROM_HU} HU, outside the lungs)")];
        return Ok((structures, names, "classical"));
    };
    let labels = read_structure_labels(labels_path)?;
    let labels = crate::align::on_grid_of(labels, (ct.geometry(), ct.shape()), labels_path, input)?;
    let groups = match &inputs.classes {
        Some(path) => read_classes(path)?,
        // Every label value present is its own structure.
        None => {
            let mut present = [false; 256];
            labels.as_slice().iter().for_each(|&l| present[usize::from(l)] = true);
            (1..=255u8)
                .filter(|&v| present[usize::from(v)])
                .map(|v| ClassGroup {
                    name: format!("label {v}"),
                    labels: vec![v],
                    min_component_fraction: None,
                })
                .collect()
        }
    };
    if groups.is_empty() {
        bail!("{}: no label other than 0", labels_path.display());
    }
    let structures = group_labels(labels, &groups);
    if structures.as_slice().iter().all(|&l| l == 0) {
        bail!(
            "{}: none of the classes' label values ({}) occurs in the file",
            labels_path.display(),
            groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok((structures, groups.into_iter().map(|g| g.name).collect(), "labels"))
}

/// `volume` reordered exactly (axes permuted and flipped, no interpolation) onto the LPS axes
/// nearest its own, as slices and montages are shown: the patient's left on the right of an
/// axial picture, anterior at its top.
pub fn on_lps_axes<T: hounsfield_core::Element>(volume: &Volume<T>) -> Result<Volume<T>> {
    Ok(hounsfield_filter::reshape::reorient(volume, "LPS")?)
}

/// The voxels of a structure and the index box (x, y, z; inclusive) that holds them.
struct LabelBox {
    voxels: usize,
    lo: [usize; 3],
    hi: [usize; 3],
}

/// The box of each label 1..=`classes`, `None` for a label without a voxel.
fn bounding_boxes(structures: &Volume<u8>, classes: usize) -> Vec<Option<LabelBox>> {
    let mut boxes: Vec<Option<LabelBox>> = (0..classes).map(|_| None).collect();
    for ((z, y, x), &l) in structures.data().indexed_iter() {
        let Some(slot) = usize::from(l).checked_sub(1).and_then(|k| boxes.get_mut(k)) else {
            continue;
        };
        let at = [x, y, z];
        let b = slot.get_or_insert(LabelBox { voxels: 0, lo: at, hi: at });
        b.voxels += 1;
        b.lo = [0, 1, 2].map(|a| b.lo[a].min(at[a]));
        b.hi = [0, 1, 2].map(|a| b.hi[a].max(at[a]));
    }
    boxes
}

/// One structure's surface: its mask (cropped to its box, with a margin of background so that
/// the surface closes) smoothed by a Gaussian of 0.6 voxel per axis (at least 1 mm: the
/// staircase of 2.5 mm slices is what a picture would show otherwise), the isosurface at the
/// level where the smoothed mask holds as many voxels as the mask, light windowed-sinc
/// smoothing, decimation. Closed and manifold, as marching cubes and both steps keep it; each
/// structure alone, so where two touch their surfaces may overlap by a fraction of a voxel.
fn structure_surface(structures: &Volume<u8>, label: u8, b: &LabelBox) -> Result<TriMesh> {
    use hounsfield_filter::gaussian::{GaussianOptions, gaussian};
    use hounsfield_filter::reshape::{crop, pad};
    use hounsfield_mesh::{WindowedSincOptions, decimate, windowed_sinc_smooth};
    let spacing = structures.geometry().spacing();
    let sigma_mm = spacing.map(|s| (SMOOTH_SIGMA_VOXELS * s).max(SMOOTH_SIGMA_MIN_MM));
    let options = GaussianOptions { sigma_mm, ..GaussianOptions::new(0.0) };
    let margin = [0, 1, 2].map(|a| (3.0 * options.sigma_mm[a] / spacing[a]).ceil() as usize + 1);
    let size = [0, 1, 2].map(|a| b.hi[a] - b.lo[a] + 1);
    let mask = crop(structures, b.lo, size)?.map(|l| f32::from(u8::from(l == label)));
    let smoothed = gaussian(&pad(&mask, margin, margin, 0.0)?, &options)?;
    // The level at which the smoothed mask holds as many voxels as the mask: 0.5 would keep a
    // large organ's volume but shrink a thin one (a rib loses a sixth of its volume).
    let mut values = smoothed.as_slice().to_vec();
    let index = values.len() - b.voxels;
    let (below, &mut at, _) = values.select_nth_unstable_by(index, f32::total_cmp);
    let under = below.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let level = if under.is_finite() { 0.5 * (f64::from(at) + f64::from(under)) } else { 0.5 };
    let target = b.voxels as f64 * structures.geometry().voxel_volume();
    let surface = isosurface_enclosing(&smoothed, level, target)?;
    // Small surfaces are kept as marching cubes made them: on a few hundred triangles the
    // sinc filter's pass band is the shape itself (a 100-voxel ball lost half its volume), and
    // so is what decimation removes.
    if surface.triangles.len() < MIN_TRIANGLES {
        return Ok(surface);
    }
    let smooth = windowed_sinc_smooth(&surface, &WindowedSincOptions::default())?;
    let keep = (MIN_TRIANGLES as f64 / smooth.triangles.len() as f64).max(KEEP_TRIANGLES);
    Ok(decimate(&smooth, keep.min(1.0))?)
}

/// The isosurface of `smoothed` enclosing `target` mm³ within 2%: the one at `level` when it
/// does (large structures), else the level found by bisection. A structure of a few hundred
/// voxels needs it: marching cubes cuts the corners of every boundary voxel, and at the
/// voxel-count level a 100-voxel ball enclosed half its volume.
fn isosurface_enclosing(smoothed: &Volume<f32>, level: f64, target: f64) -> Result<TriMesh> {
    use hounsfield_mesh::{IsoOptions, isosurface};
    let at = |l: f64| -> Result<(TriMesh, f64)> {
        let mesh = isosurface(smoothed, l, &IsoOptions::default())?;
        let volume = mesh.stats().volume;
        Ok((mesh, volume))
    };
    let (mut best, volume) = at(level)?;
    if (volume / target - 1.0).abs() <= 0.02 {
        return Ok(best);
    }
    let mut best_error = (volume - target).abs();
    // The enclosed volume falls as the level rises.
    let (mut lo, mut hi) = if volume < target { (0.02, level) } else { (level, 0.98) };
    for _ in 0..8 {
        let mid = 0.5 * (lo + hi);
        let (mesh, volume) = at(mid)?;
        if !mesh.is_empty() && (volume - target).abs() < best_error {
            best_error = (volume - target).abs();
            best = mesh;
        }
        if volume < target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(best)
}

fn count(mask: &Volume<u8>) -> usize {
    mask.as_slice().iter().filter(|&&v| v != 0).count()
}

/// Twelve axial slices (3 columns) in the soft-tissue window, the structures overlaid.
fn structure_montage(
    ct: &Volume<f32>,
    structures: &Volume<u8>,
) -> Result<hounsfield_render::RgbImage> {
    let window = Window::new(40.0, 400.0)?;
    let structures = on_lps_axes(structures)?;
    let overlay = Overlay { labels: &structures, opacity: 0.4 };
    Ok(montage(&on_lps_axes(ct)?, Plane::Axial, 12, 4, &window, Some(overlay))?)
}

/// Bone at the CT's full resolution, seen from the front and a little to the left.
fn bone_rendering(ct: &Volume<f32>) -> Result<hounsfield_render::RgbImage> {
    let view = View { azimuth: 20.0, elevation: 10.0, size: 512 };
    let options = DvrOptions { view, ..Default::default() };
    Ok(volume_render(ct, &TransferFunction::ct_bone(), &options)?)
}

/// The coloured surfaces from the front and a little to the left, framed to their bounds.
fn surfaces_picture(mesh: &TriMesh) -> Result<hounsfield_render::RgbImage> {
    let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    for v in &mesh.vertices {
        for k in 0..3 {
            lo[k] = lo[k].min(f64::from(v[k]));
            hi[k] = hi[k].max(f64::from(v[k]));
        }
    }
    let centre = [0, 1, 2].map(|k| (lo[k] + hi[k]) / 2.0);
    let radius = (0..3).map(|k| (hi[k] - lo[k]) / 2.0).map(|h| h * h).sum::<f64>().sqrt().max(1.0);
    let side = 2.0 * radius * 1.02;
    let projection = Projection::Orthographic { width_mm: side, height_mm: side };
    let camera = Camera::orbit(projection, 512, 512, centre, 3.0 * radius, 20.0, 10.0)?;
    let colours: Vec<[f32; 3]> = mesh
        .colours
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|c| c.map(|x| f32::from(x) / 255.0))
        .collect();
    let surface = Surface {
        vertices: &mesh.vertices,
        triangles: &mesh.triangles,
        normals: None,
        colours: (!colours.is_empty()).then_some(colours.as_slice()),
    };
    Ok(render_view(&surface, &camera)?.colour_image([20, 20, 28]))
}
