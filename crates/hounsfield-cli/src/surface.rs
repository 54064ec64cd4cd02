//! `hounsfield surface`: multi-view renders of a surface (`views`), the surface back from its
//! views (`fit`, the visual hull for now), and surface-to-surface measures (`compare`).
//!
//! A views directory holds, per view, `<name>_mask.png`, `<name>_normal.png` (world-frame
//! normals as `(n + 1) / 2`), `<name>_colour.png` and `<name>_depth.png` (16-bit, see
//! [`ViewRecord`]), a contact sheet `sheet.png`, the rendered surface as `reference.ply`, and
//! `views.json`: the cameras and the file names, everything `fit` needs.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_core::camera::{Projection, WONDER3D_VIEWS};
use hounsfield_core::{Camera, Volume};
use hounsfield_mesh::io::{MeshFormat, read_mesh, write_mesh};
use hounsfield_mesh::{
    CompareOptions, IsoOptions, LabelOptions, MeshComparison, MeshStats, TriMesh,
    colour_at_closest, compare_meshes, isosurface, keep_marked_components, label_surfaces,
};
use hounsfield_render::{RgbImage, Surface, ViewMaps, label_colour, read_png, render_view};
use hounsfield_surface::{
    ColourView, FitProgress, HullGrid, MaskedView, Shading, Silhouette, TargetView, fit_sdf,
    vertex_colours, visual_hull,
};
use serde::{Deserialize, Serialize};

use crate::outputs::Outputs;

/// The file of camera records in a views directory.
pub const VIEWS_FILE: &str = "views.json";

/// One view in `views.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewRecord {
    /// The view's name (file prefix).
    pub name: String,
    /// Picture width, pixels.
    pub width: usize,
    /// Picture height, pixels.
    pub height: usize,
    /// Intrinsics.
    pub projection: Projection,
    /// World-from-camera rotation, row-major; columns are the camera's x (right), y (down) and
    /// z (viewing direction) in LPS.
    pub rotation: [[f64; 3]; 3],
    /// Camera position, mm (LPS).
    pub position: [f64; 3],
    /// Silhouette file (white = object).
    pub mask: String,
    /// Normal map file.
    pub normal: String,
    /// Colour file.
    pub colour: String,
    /// Depth file: 16-bit grey, 0 = background, else depth = near + (value - 1) (far - near) /
    /// 65534 mm along the viewing direction.
    pub depth: String,
    /// Depth of the nearest seen point, mm.
    pub depth_near: f64,
    /// Depth of the farthest seen point, mm.
    pub depth_far: f64,
    /// How the colour pictures are lit; absent: taken as the surface's own colours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shading: Option<ViewShading>,
}

/// The lighting of a view's colour picture, so `fit` can divide it out of the vertex colours.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum ViewShading {
    /// `colour = albedo * (ambient + (1 - ambient) |n . f|)`, `f` the camera's viewing
    /// direction: `surface views`' headlight.
    Headlight {
        /// The ambient share in [0, 1).
        ambient: f64,
    },
}

/// `views.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewsFile {
    /// Format version (1).
    pub version: u32,
    /// What was rendered.
    pub source: String,
    /// The rendered surface, beside this file (the reference for `fit`).
    pub reference: String,
    /// Centre of the bounding sphere every view frames, mm.
    pub centre: [f64; 3],
    /// Radius of that sphere, mm.
    pub radius: f64,
    /// The views.
    pub views: Vec<ViewRecord>,
}

impl ViewRecord {
    fn camera(&self) -> hounsfield_core::Result<Camera> {
        Camera::new(self.projection, self.width, self.height, self.rotation, self.position)
    }

    fn new(name: &str, camera: &Camera, maps: &ViewMaps) -> Self {
        let (near, far) = maps.depth_range().unwrap_or((0.0, 0.0));
        ViewRecord {
            name: name.to_owned(),
            width: camera.width(),
            height: camera.height(),
            projection: camera.projection(),
            rotation: camera.rotation(),
            position: camera.position(),
            mask: format!("{name}_mask.png"),
            normal: format!("{name}_normal.png"),
            colour: format!("{name}_colour.png"),
            depth: format!("{name}_depth.png"),
            depth_near: f64::from(near),
            depth_far: f64::from(far),
            shading: Some(ViewShading::Headlight { ambient: hounsfield_render::HEADLIGHT_AMBIENT }),
        }
    }
}

/// What to render and how.
#[derive(Clone, Debug)]
pub struct ViewsOptions {
    /// Number of views: 6 is Wonder3D's preset (front, front-right, right, back, left,
    /// front-left); any other count is spread evenly in azimuth from the front.
    pub views: usize,
    /// Picture side, pixels.
    pub size: usize,
    /// Camera elevation, degrees.
    pub elevation: f64,
    /// Pinhole cameras with this full field of view (degrees) instead of orthographic ones.
    pub perspective: Option<f64>,
    /// For a volume input: the isolevel of its surface (values >= level are inside).
    pub level: Option<f64>,
    /// For a volume input: one coloured surface per non-zero label.
    pub labels: bool,
}

/// What `surface views` wrote.
#[derive(Debug, Serialize)]
pub struct ViewsReport {
    /// The views directory.
    pub dir: PathBuf,
    /// View names.
    pub views: Vec<String>,
    /// Picture side, pixels.
    pub size: usize,
    /// Triangles rendered.
    pub triangles: usize,
    /// Bounding-sphere centre and radius, mm.
    pub centre: [f64; 3],
    /// Bounding-sphere radius, mm.
    pub radius: f64,
    /// Seconds for all renders.
    pub seconds: f64,
}

impl fmt::Display for ViewsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} views of {} triangles ({} px) -> {}",
            self.views.len(),
            self.triangles,
            self.size,
            self.dir.display()
        )?;
        writeln!(f, "  views: {}", self.views.join(", "))?;
        writeln!(
            f,
            "  framing a sphere of radius {:.2} mm about ({:.2}, {:.2}, {:.2}) mm",
            self.radius, self.centre[0], self.centre[1], self.centre[2]
        )?;
        writeln!(f, "  {:.2} s", self.seconds)
    }
}

/// The surface to render from `input` and the reference a fit of its views is compared with:
/// a mesh file (with its vertex colours, if it has them), a volume's isosurface, or a label
/// volume's surfaces (each label in its overlay colour) with, as the reference, the outer
/// surface of all labels together: the walls between touching labels are inside the object,
/// where no view and no reconstruction from views can reach.
fn load_surface(input: &Path, options: &ViewsOptions) -> Result<(TriMesh, TriMesh)> {
    if MeshFormat::from_path(input).is_ok() {
        if options.level.is_some() || options.labels {
            bail!("{}: --level and --labels apply to volumes, not to mesh files", input.display());
        }
        let mesh = read_mesh(input)?;
        return Ok((mesh.clone(), mesh));
    }
    let volume = hounsfield_io::open_volume(input)?;
    if options.labels {
        check_label_image(input, &volume)?;
        let surfaces = label_surfaces(&volume, &LabelOptions::default())
            .with_context(|| input.display().to_string())?;
        if surfaces.is_empty() {
            bail!("{}: no label other than 0", input.display());
        }
        let mut merged = TriMesh::default();
        let mut colours = Vec::new();
        for s in surfaces {
            let base = merged.vertices.len() as u32;
            let colour = label_colour(u8::try_from(s.label.clamp(1, 255)).unwrap_or(1));
            colours.extend(std::iter::repeat_n(colour, s.mesh.vertices.len()));
            merged.vertices.extend(&s.mesh.vertices);
            merged.triangles.extend(s.mesh.triangles.iter().map(|t| t.map(|i| i + base)));
        }
        merged.colours = Some(colours);
        let union = volume.map(|v| u8::from(v != 0.0));
        let mut outer = label_surfaces(&union, &LabelOptions::default())
            .with_context(|| input.display().to_string())?
            .into_iter()
            .next()
            .map(|s| s.mesh)
            .context("no foreground")?;
        let colours = colour_at_closest(&outer, &merged)?;
        outer.colours =
            Some(colours.iter().map(|c| c.map(|x| (x * 255.0).round() as u8)).collect());
        return Ok((merged, outer));
    }
    let Some(level) = options.level else {
        bail!(
            "{}: a volume needs --level L (the surface of values >= L) or --labels",
            input.display()
        );
    };
    // One voxel of outside around the volume closes the surface at its edge.
    let (lo, _) = volume.min_max().unwrap_or((level, level));
    let volume =
        hounsfield_filter::reshape::pad(&volume, [1; 3], [1; 3], (lo.min(level) - 1.0) as f32)?;
    let mesh = isosurface(&volume, level, &IsoOptions::default())?;
    if mesh.is_empty() {
        bail!(
            "{}: no surface at level {level} (the volume is entirely on one side)",
            input.display()
        );
    }
    Ok((mesh.clone(), mesh))
}

/// A kilometre bounds any scanned or rendered object; beyond it the grids' arithmetic fails
/// with errors that no longer say why.
const MAX_FRAME_MM: f64 = 1e6;

/// Most labels `--labels` renders: one overlay colour each.
const MAX_LABELS: usize = 255;

/// Refuses an intensity image given as labels: one surface per grey level would take minutes
/// and gigabytes to make a picture of nothing.
fn check_label_image(input: &Path, volume: &Volume<f32>) -> Result<()> {
    let mut labels = std::collections::BTreeSet::new();
    for &v in volume.as_slice() {
        if v != 0.0 {
            if v.fract() != 0.0 || !v.is_finite() {
                bail!(
                    "{}: --labels needs a label image (whole numbers), found the value {v}",
                    input.display()
                );
            }
            labels.insert(v.to_bits());
            if labels.len() > MAX_LABELS {
                bail!(
                    "{}: more than {MAX_LABELS} distinct labels: not a label image? (use --level \
                     for the surface of an intensity image)",
                    input.display()
                );
            }
        }
    }
    // A label image is made of uniform regions: neighbours inside the foreground mostly share
    // their label. In an intensity image (an MRI) most of them differ.
    let values = volume.as_slice();
    let nx = volume.shape()[2];
    let (mut pairs, mut differ) = (0usize, 0usize);
    for (i, pair) in values.windows(2).enumerate() {
        if (i + 1) % nx != 0 && pair[0] != 0.0 && pair[1] != 0.0 {
            pairs += 1;
            differ += usize::from(pair[0] != pair[1]);
        }
    }
    let share = differ as f64 / pairs.max(1) as f64;
    if share > MAX_LABEL_CHANGES {
        bail!(
            "{}: not a label image: {:.0}% of neighbouring foreground voxels differ (a label \
             image's regions are uniform); use --level for the surface of an intensity image",
            input.display(),
            100.0 * share
        );
    }
    Ok(())
}

/// The largest share of x-neighbour pairs within the foreground that may carry different
/// labels: label maps measure a few percent (a boundary between two labels is one pair in
/// each row crossing it); MRI intensities most pairs.
const MAX_LABEL_CHANGES: f64 = 0.2;

/// The bounding sphere used to frame the views: the bounding box's centre and the farthest
/// vertex from it.
fn bounding_sphere(mesh: &TriMesh) -> ([f64; 3], f64) {
    let (lo, hi) = mesh.bounds();
    let centre: [f64; 3] = std::array::from_fn(|k| (lo[k] + hi[k]) / 2.0);
    let radius = mesh
        .vertices
        .iter()
        .map(|v| (0..3).map(|k| (f64::from(v[k]) - centre[k]).powi(2)).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    (centre, radius)
}

fn cameras(options: &ViewsOptions, centre: [f64; 3], radius: f64) -> Result<Vec<(String, Camera)>> {
    let size = options.size;
    if !(16..=4096).contains(&size) {
        bail!("--size {size}: pictures of 16 to 4096 pixels");
    }
    if !(1..=64).contains(&options.views) {
        bail!("--views {}: 1 to 64 views", options.views);
    }
    let azimuths: Vec<(String, f64)> = if options.views == 6 {
        WONDER3D_VIEWS.iter().map(|(n, a)| ((*n).to_owned(), *a)).collect()
    } else {
        (0..options.views)
            .map(|i| {
                let a = 360.0 * i as f64 / options.views as f64;
                (format!("view{i:02}_az{:03}", a.round() as i64), a)
            })
            .collect()
    };
    let radius = radius * 1.05; // a margin, so no silhouette touches the picture's edge
    azimuths
        .into_iter()
        .map(|(name, azimuth)| {
            let camera = match options.perspective {
                None => {
                    let side = 2.0 * radius;
                    let projection = Projection::Orthographic { width_mm: side, height_mm: side };
                    Camera::orbit(
                        projection,
                        size,
                        size,
                        centre,
                        3.0 * radius,
                        azimuth,
                        options.elevation,
                    )
                }
                Some(fov) => {
                    if !(fov > 1.0 && fov < 150.0) {
                        bail!("--perspective {fov}: a field of view between 1 and 150 degrees");
                    }
                    let half = (fov / 2.0).to_radians();
                    // The sphere's tangent cone fills the field of view.
                    let distance = radius / half.sin();
                    let f = size as f64 / 2.0 / half.tan();
                    let c = size as f64 / 2.0;
                    let projection = Projection::Pinhole { fx: f, fy: f, cx: c, cy: c };
                    Camera::orbit(
                        projection,
                        size,
                        size,
                        centre,
                        distance,
                        azimuth,
                        options.elevation,
                    )
                }
            }?;
            Ok((name, camera))
        })
        .collect()
}

fn depth_samples(maps: &ViewMaps) -> Vec<u16> {
    let (near, far) = maps.depth_range().unwrap_or((0.0, 0.0));
    let span = f64::from(far - near).max(1e-9);
    maps.depth
        .iter()
        .zip(&maps.mask)
        .map(|(&d, &m)| {
            if m {
                1 + ((f64::from(d - near) / span) * 65534.0).round().clamp(0.0, 65534.0) as u16
            } else {
                0
            }
        })
        .collect()
}

/// Renders `input` (a mesh file, or a volume with `level`/`labels`) from the views `options`
/// asks for into `dir`.
pub fn views(input: &Path, dir: &Path, options: &ViewsOptions) -> Result<ViewsReport> {
    let start = std::time::Instant::now();
    let (mesh, reference) = load_surface(input, options)?;
    let colours: Option<Vec<[f32; 3]>> = mesh
        .colours
        .as_ref()
        .map(|c| c.iter().map(|rgb| rgb.map(|x| f32::from(x) / 255.0)).collect());
    if mesh.is_empty() {
        bail!("{}: the mesh has no triangles", input.display());
    }
    let (centre, radius) = bounding_sphere(&mesh);
    if !(radius > 0.0 && radius.is_finite()) {
        bail!("{}: the surface has no extent", input.display());
    }
    // The limit `fit` reads views.json under: refuse here what it would refuse there.
    if radius * 1.05 > MAX_FRAME_MM || centre.iter().any(|c| c.abs() > MAX_FRAME_MM) {
        bail!(
            "{}: the surface spans {radius:.3e} mm about {centre:?}: beyond the {MAX_FRAME_MM:e} mm \
             views can frame (a vertex far away, or coordinates not in mm?)",
            input.display()
        );
    }
    let cameras = cameras(options, centre, radius)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let smooth = mesh.normals.clone().unwrap_or_else(|| mesh.vertex_normals_from_faces());
    let surface = Surface {
        vertices: &mesh.vertices,
        triangles: &mesh.triangles,
        normals: Some(&smooth),
        colours: colours.as_deref(),
    };
    let mut outputs = Outputs::new();
    let mut records = Vec::with_capacity(cameras.len());
    let background = [0u8; 3];
    let mut sheet = RgbImage::new(options.size * cameras.len(), options.size * 2, [255; 3]);
    for (k, (name, camera)) in cameras.iter().enumerate() {
        let maps = render_view(&surface, camera)?;
        let record = ViewRecord::new(name, camera, &maps);
        let colour = maps.colour_image(background);
        let normal = maps.normal_image(background);
        outputs.write(&dir.join(&record.mask), |p| Ok(maps.mask_image().write_png(p)?))?;
        outputs.write(&dir.join(&record.normal), |p| Ok(normal.write_png(p)?))?;
        outputs.write(&dir.join(&record.colour), |p| Ok(colour.write_png(p)?))?;
        let depth = depth_samples(&maps);
        outputs.write(&dir.join(&record.depth), |p| {
            Ok(hounsfield_render::write_grey16_png(p, maps.width, maps.height, &depth)?)
        })?;
        sheet.paste(&colour, k * options.size, 0);
        sheet.paste(&normal, k * options.size, options.size);
        records.push(record);
    }
    outputs.write(&dir.join("sheet.png"), |p| Ok(sheet.write_png(p)?))?;
    outputs.write(&dir.join("reference.ply"), |p| Ok(write_mesh(p, &reference)?))?;
    let file = ViewsFile {
        version: 1,
        source: input.display().to_string(),
        reference: "reference.ply".into(),
        centre,
        radius: radius * 1.05,
        views: records,
    };
    let text = serde_json::to_string_pretty(&file)?;
    outputs.write(&dir.join(VIEWS_FILE), |p| {
        Ok(hounsfield_core::fs::write_bytes_atomic(p, text.as_bytes())?)
    })?;
    outputs.keep();
    Ok(ViewsReport {
        dir: dir.to_owned(),
        views: cameras.into_iter().map(|(n, _)| n).collect(),
        size: options.size,
        triangles: mesh.triangles.len(),
        centre,
        radius,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Reads a views directory's `views.json` and silhouettes.
pub fn read_views(dir: &Path) -> Result<(ViewsFile, Vec<MaskedView>)> {
    let path = dir.join(VIEWS_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("{}: not a views directory (made by `hounsfield surface views`)", path.display())
    })?;
    let file: ViewsFile =
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    if file.version != 1 {
        bail!("{}: version {} (this build reads version 1)", path.display(), file.version);
    }
    if file.views.is_empty() {
        bail!("{}: no views", path.display());
    }
    let framed = file.radius > 0.0 && file.radius <= MAX_FRAME_MM;
    if !(framed && file.centre.iter().all(|c| c.is_finite() && c.abs() <= MAX_FRAME_MM)) {
        bail!(
            "{}: centre {:?} / radius {} mm do not frame anything (radius 0 to 1e6 mm)",
            path.display(),
            file.centre,
            file.radius
        );
    }
    let mut views = Vec::with_capacity(file.views.len());
    for record in &file.views {
        let camera =
            record.camera().with_context(|| format!("{}: view {}", path.display(), record.name))?;
        let mask_path = safe_join(dir, &record.mask)?;
        let image = read_png(&mask_path)?;
        if (image.width, image.height) != (camera.width(), camera.height()) {
            bail!(
                "{}: {} x {} pixels, but view {} in {} is {} x {}",
                mask_path.display(),
                image.width,
                image.height,
                record.name,
                path.display(),
                camera.width(),
                camera.height()
            );
        }
        let inside = decode_mask(&image);
        let silhouette = Silhouette::new(image.width, image.height, inside)?;
        views.push(MaskedView { camera, silhouette });
    }
    Ok((file, views))
}

/// `dir/name` for a plain file name (no directories, no `..`): names come from a file a user
/// may have edited.
fn safe_join(dir: &Path, name: &str) -> Result<PathBuf> {
    let plain = Path::new(name).file_name().is_some_and(|f| f == std::ffi::OsStr::new(name));
    if !plain || name.starts_with('.') {
        bail!("{}: {name:?} is not a plain file name", dir.join(VIEWS_FILE).display());
    }
    Ok(dir.join(name))
}

/// How `surface fit` reconstructs.
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Only the visual hull.
    pub hull_only: bool,
    /// Fit the depth maps as well as the silhouettes and normals.
    pub depth: bool,
    /// The SDF fit's settings; its resolution is also the hull's.
    pub sdf: hounsfield_surface::FitOptions,
    /// Compare with this mesh instead of the views directory's `reference.ply`.
    pub reference: Option<PathBuf>,
    /// Do not compare with any reference.
    pub no_reference: bool,
    /// Points sampled per surface for the comparison.
    pub samples: usize,
    /// Keep the connected parts of the result that no view sees.
    pub keep_unseen: bool,
}

/// The fitted mesh's vertex colours, and the parts of it no view saw.
#[derive(Debug, Serialize)]
pub struct Colouring {
    /// Share of the written mesh's vertices some view sees (the others take their seen
    /// neighbours' colours).
    pub seen_fraction: f64,
    /// Connected parts no view sees, dropped (debris in pockets no camera looks into); 0 with
    /// `--keep-unseen`.
    pub unseen_parts_removed: usize,
    /// Mean absolute difference from the reference's colour at the closest point, in 8-bit
    /// levels over the three channels (when the reference has colours).
    pub colour_error: Option<f64>,
    /// The same over the vertices some view sees (the filled-in ones left out).
    pub colour_error_seen: Option<f64>,
}

/// What `surface fit` made.
#[derive(Debug, Serialize)]
pub struct FitReport {
    /// The mesh written.
    pub output: PathBuf,
    /// Which stage made it.
    pub stage: &'static str,
    /// Views used.
    pub views: usize,
    /// Voxels along each side of the reconstruction cube.
    pub resolution: usize,
    /// Voxel side, mm.
    pub voxel_mm: f64,
    /// Measures of the mesh.
    pub stats: MeshStats,
    /// Closed, manifold and consistently wound.
    pub watertight: bool,
    /// The reference compared with, if any.
    pub reference: Option<PathBuf>,
    /// The comparison, if a reference was given.
    pub metrics: Option<MeshComparison>,
    /// Vertex colours from the views.
    pub colouring: Colouring,
    /// Seconds for the reconstruction and its colours.
    pub seconds: f64,
    /// Seconds for the comparison with the reference.
    pub compare_seconds: f64,
}

impl fmt::Display for FitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(
            f,
            "{} from {} views ({}^3 voxels of {:.3} mm) -> {}",
            self.stage,
            self.views,
            self.resolution,
            self.voxel_mm,
            self.output.display()
        )?;
        writeln!(
            f,
            "  {} triangles, volume {:.2} mm³, watertight: {}, {:.2} s",
            s.triangles,
            s.volume,
            if self.watertight { "yes" } else { "no" },
            self.seconds
        )?;
        let c = &self.colouring;
        let stl = self.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("stl"));
        writeln!(
            f,
            "  colours from the views{}: {:.1}% of vertices seen, {} unseen part(s) removed",
            if stl { " (not stored: STL has no colours)" } else { "" },
            100.0 * c.seen_fraction,
            c.unseen_parts_removed
        )?;
        if let (Some(r), Some(m)) = (&self.reference, &self.metrics) {
            writeln!(f, "  against {}:", r.display())?;
            write!(f, "{}", MetricsText(m))?;
            if let (Some(e), Some(seen)) = (c.colour_error, c.colour_error_seen) {
                writeln!(
                    f,
                    "    colour error {e:.2} levels of 255 (mean absolute; {seen:.2} where seen)"
                )?;
            }
        }
        Ok(())
    }
}

/// The comparison's lines, as `fit` and `compare` print them.
struct MetricsText<'a>(&'a MeshComparison);

impl fmt::Display for MetricsText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        writeln!(
            f,
            "    volume IoU {:.4}, volume error {:+.2}%",
            m.volume_iou, m.volume_error_percent
        )?;
        writeln!(
            f,
            "    Chamfer-L1 {:.4} mm (normalised {:.5}), mean surface distance {:.4} mm, HD95 {:.4} mm",
            m.surface.chamfer_l1,
            m.surface.chamfer_normalised,
            m.surface.mean_surface_distance,
            m.surface.hausdorff95
        )?;
        writeln!(
            f,
            "    F-score@{:.3} mm {:.4} (precision {:.4}, recall {:.4}), normal consistency {:.4}",
            m.surface.fscore_threshold,
            m.surface.fscore,
            m.surface.precision,
            m.surface.recall,
            m.surface.normal_consistency
        )
    }
}

/// Reconstructs a surface from the views in `dir` and writes it to `output`; `progress` sees
/// the fit's steps.
pub fn fit(
    dir: &Path,
    output: &Path,
    options: &FitOptions,
    progress: impl FnMut(&FitProgress),
) -> Result<FitReport> {
    MeshFormat::from_path(output)?;
    let (file, views) = read_views(dir)?;
    // Everything the comparison needs is checked and read before the fit, so a bad reference
    // or sample count fails in a second, not after minutes, and leaves no mesh behind.
    if options.samples == 0 || options.samples > 10_000_000 {
        bail!("--samples {}: 1 to 10,000,000", options.samples);
    }
    let reference = match (&options.reference, options.no_reference) {
        (_, true) => None,
        (Some(r), false) => Some(r.clone()),
        (None, false) => Some(safe_join(dir, &file.reference)?).filter(|p| p.exists()),
    };
    let reference_mesh = match &reference {
        Some(r) => {
            if same_file(r, output) {
                bail!(
                    "{}: the output would overwrite the reference it is compared with",
                    output.display()
                );
            }
            Some(read_mesh(r)?)
        }
        None => None,
    };
    check_pictures(dir, &file)?;
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        bail!("{}: no directory {} to write into", output.display(), parent.display());
    }
    let start = std::time::Instant::now();
    let grid = HullGrid {
        centre: file.centre,
        half_extent: file.radius,
        resolution: options.sdf.resolution,
    };
    let (mesh, voxel_mm, stage) = if options.hull_only {
        let field =
            visual_hull(&views, &grid).with_context(|| format!("views in {}", dir.display()))?;
        (hull_mesh(&field)?, field.geometry().spacing()[0], "visual hull")
    } else {
        let targets = read_targets(dir, &file, views, options.depth)?;
        let sdf = fit_sdf(&targets, &grid, &options.sdf, progress)
            .with_context(|| format!("fitting the views in {}", dir.display()))?;
        (
            hull_mesh(&sdf.to_inside_positive()?)?,
            sdf.h,
            if options.depth {
                "SDF fit (NeuS rendering of silhouettes, normals and depths, from the visual hull)"
            } else {
                "SDF fit (NeuS rendering of silhouettes and normals, from the visual hull)"
            },
        )
    };
    let (mesh, mut colouring) =
        colour_from_views(dir, &file, mesh, options.keep_unseen, reference_mesh.as_ref())?;
    let seconds = start.elapsed().as_secs_f64();
    write_mesh(output, &mesh)?;
    let start = std::time::Instant::now();
    let metrics = match (&reference, &reference_mesh) {
        (Some(r), Some(reference_mesh)) => {
            let compare = CompareOptions::default().with_samples(options.samples);
            if reference_mesh.colours.is_some() {
                let all = vec![true; mesh.vertices.len()];
                colouring.colour_error = Some(colour_error(&mesh, &all, reference_mesh)?);
            }
            Some(
                compare_meshes(reference_mesh, &mesh, &compare)
                    .with_context(|| format!("comparing with {}", r.display()))?,
            )
        }
        _ => None,
    };
    let compare_seconds = start.elapsed().as_secs_f64();
    let stats = mesh.stats();
    Ok(FitReport {
        output: output.to_owned(),
        stage,
        views: file.views.len(),
        resolution: options.sdf.resolution,
        voxel_mm,
        stats,
        watertight: stats.is_watertight(),
        reference,
        metrics,
        colouring,
        seconds,
        compare_seconds,
    })
}

/// `mesh` coloured from the views' colour pictures (the shading each view records divided
/// out), without the parts no view sees unless `keep_unseen`; the colour error of the seen
/// vertices against a coloured `reference`.
fn colour_from_views(
    dir: &Path,
    file: &ViewsFile,
    mut mesh: TriMesh,
    keep_unseen: bool,
    reference: Option<&TriMesh>,
) -> Result<(TriMesh, Colouring)> {
    let normals = mesh.vertex_normals_from_faces();
    let surface = Surface {
        vertices: &mesh.vertices,
        triangles: &mesh.triangles,
        normals: Some(&normals),
        colours: None,
    };
    let mut cameras = Vec::with_capacity(file.views.len());
    let mut pictures = Vec::with_capacity(file.views.len());
    let mut depths = Vec::with_capacity(file.views.len());
    let mut masks = Vec::with_capacity(file.views.len());
    let mut view_normals = Vec::with_capacity(file.views.len());
    for record in &file.views {
        let camera = record.camera()?;
        masks.push(decode_mask(&read_view_picture(dir, record, &record.mask)?));
        view_normals.push(decode_normals(&read_view_picture(dir, record, &record.normal)?));
        let image = read_view_picture(dir, record, &record.colour)?;
        pictures
            .push(image.pixels.iter().map(|p| p.map(|c| f32::from(c) / 255.0)).collect::<Vec<_>>());
        // The fitted surface's own depth in this view: the reference of the visibility test.
        depths.push(render_view(&surface, &camera)?.depth);
        cameras.push(camera);
    }
    let views: Vec<ColourView<'_>> = file
        .views
        .iter()
        .enumerate()
        .map(|(k, record)| ColourView {
            camera: &cameras[k],
            colour: &pictures[k],
            depth: &depths[k],
            shading: match record.shading {
                Some(ViewShading::Headlight { ambient }) => {
                    Shading::Headlight { ambient: ambient as f32 }
                }
                None => Shading::Unlit,
            },
            inside: Some(&masks[k]),
            normals: Some(&view_normals[k]),
        })
        .collect();
    let coloured = vertex_colours(&mesh.vertices, &normals, &mesh.triangles, &views)
        .with_context(|| format!("colouring from the views in {}", dir.display()))?;
    mesh.colours =
        Some(coloured.colours.iter().map(|c| c.map(|x| (x * 255.0).round() as u8)).collect());
    // Measured before unseen parts go, while the flags still match the vertices.
    let colour_error_seen = match reference.filter(|r| r.colours.is_some()) {
        Some(r) => Some(colour_error(&mesh, &coloured.seen, r)?),
        None => None,
    };
    let parts = mesh.components().1;
    if !keep_unseen {
        mesh = keep_marked_components(&mesh, &coloured.seen)?;
        if mesh.is_empty() {
            bail!("no view sees any part of the reconstruction (are the cameras pointed at it?)");
        }
    }
    // Dropped parts hold no seen vertex, so every seen vertex is among those written.
    let seen = coloured.seen.iter().filter(|&&s| s).count();
    let colouring = Colouring {
        seen_fraction: seen as f64 / mesh.vertices.len() as f64,
        unseen_parts_removed: parts - mesh.components().1,
        colour_error: None,
        colour_error_seen,
    };
    Ok((mesh, colouring))
}

/// Mean absolute difference, in 8-bit levels, between the vertex colours of `mesh` where
/// `counted` and the reference's colour at the closest point.
fn colour_error(mesh: &TriMesh, counted: &[bool], reference: &TriMesh) -> Result<f64> {
    let expected = colour_at_closest(mesh, reference)?;
    let Some(colours) = &mesh.colours else { bail!("the reconstruction has no colours") };
    let (mut total, mut count) = (0.0f64, 0usize);
    for ((c, e), _) in colours.iter().zip(&expected).zip(counted).filter(|(_, k)| **k) {
        total += (0..3).map(|k| (f64::from(c[k]) - 255.0 * f64::from(e[k])).abs()).sum::<f64>();
        count += 3;
    }
    Ok(total / count.max(1) as f64)
}

/// The views with their normal maps (decoded from `(n + 1) / 2` per channel).
fn read_targets(
    dir: &Path,
    file: &ViewsFile,
    views: Vec<MaskedView>,
    with_depth: bool,
) -> Result<Vec<TargetView>> {
    file.views
        .iter()
        .zip(views)
        .map(|(record, view)| {
            let image = read_view_picture(dir, record, &record.normal)?;
            let normals = decode_normals(&image);
            let depths = if with_depth { Some(read_depths(dir, record)?) } else { None };
            Ok(TargetView {
                camera: view.camera,
                silhouette: view.silhouette,
                normals: Some(normals),
                depths,
            })
        })
        .collect()
}

/// Reads every view's colour and normal picture and checks its shading record, so that a
/// missing or wrong picture fails before the fit rather than after it.
fn check_pictures(dir: &Path, file: &ViewsFile) -> Result<()> {
    for record in &file.views {
        read_view_picture(dir, record, &record.colour)?;
        read_view_picture(dir, record, &record.normal)?;
        if let Some(ViewShading::Headlight { ambient }) = record.shading
            && !(0.0..1.0).contains(&ambient)
        {
            bail!(
                "{}: view {}: shading ambient {ambient} must be in [0, 1) (for unlit colour \
                 pictures remove the view's `shading`)",
                dir.join(VIEWS_FILE).display(),
                record.name
            );
        }
    }
    Ok(())
}

/// Unit normals from a normal map's `(n + 1) / 2` pixels.
fn decode_normals(image: &RgbImage) -> Vec<[f32; 3]> {
    image
        .pixels
        .iter()
        .map(|p| {
            let n = p.map(|c| f32::from(c) / 127.5 - 1.0);
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt().max(1e-6);
            n.map(|c| c / len)
        })
        .collect()
}

/// A silhouette's pixels from its picture (white = object).
fn decode_mask(image: &RgbImage) -> Vec<bool> {
    image.pixels.iter().map(|p| p[0] > 127).collect()
}

/// The picture `name` of a view, checked to be the view's size.
fn read_view_picture(dir: &Path, record: &ViewRecord, name: &str) -> Result<RgbImage> {
    let path = safe_join(dir, name)?;
    let image = read_png(&path)?;
    if (image.width, image.height) != (record.width, record.height) {
        bail!(
            "{}: {} x {} pixels, but view {} is {} x {}",
            path.display(),
            image.width,
            image.height,
            record.name,
            record.width,
            record.height
        );
    }
    Ok(image)
}

/// A view's depth map in mm (NaN where nothing is seen), decoded as [`ViewRecord::depth`] says.
fn read_depths(dir: &Path, record: &ViewRecord) -> Result<Vec<f32>> {
    let path = safe_join(dir, &record.depth)?;
    let (width, height, samples) = hounsfield_render::read_grey16_png(&path)?;
    if (width, height) != (record.width, record.height) {
        bail!(
            "{}: {width} x {height} pixels, but view {} is {} x {}",
            path.display(),
            record.name,
            record.width,
            record.height
        );
    }
    let (near, far) = (record.depth_near, record.depth_far);
    if !(near.is_finite() && far.is_finite() && far >= near) {
        bail!("views.json: view {} has depth range {near}..{far} mm", record.name);
    }
    let step = (far - near) / 65534.0;
    Ok(samples
        .iter()
        .map(|&v| if v == 0 { f32::NAN } else { (near + f64::from(v - 1) * step) as f32 })
        .collect())
}

/// Whether two paths name the same file (the second need not exist yet): their directories
/// resolved, then the names compared.
fn same_file(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some(dir.canonicalize().ok()?.join(p.file_name()?))
    };
    matches!((resolve(a), resolve(b)), (Some(x), Some(y)) if x == y)
}

/// The hull field's zero level as a closed mesh (the field is negative at the cube's faces
/// unless the hull reaches them; a layer of outside closes it either way).
fn hull_mesh(field: &Volume<f32>) -> Result<TriMesh> {
    let padded = hounsfield_filter::reshape::pad(field, [1; 3], [1; 3], -1.0)?;
    let mesh = isosurface(&padded, 0.0, &IsoOptions::default())?;
    if mesh.is_empty() {
        bail!("the views' silhouettes have no common part: the visual hull is empty");
    }
    Ok(mesh)
}

/// What `surface compare` measured.
#[derive(Debug, Serialize)]
pub struct CompareReport {
    /// The reference mesh.
    pub reference: PathBuf,
    /// The mesh compared with it.
    pub test: PathBuf,
    /// The measures.
    #[serde(flatten)]
    pub metrics: MeshComparison,
}

impl fmt::Display for CompareReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} against {}:", self.test.display(), self.reference.display())?;
        write!(f, "{}", MetricsText(&self.metrics))
    }
}

/// Compares the closed mesh `test` with the closed mesh `reference`.
pub fn compare(reference: &Path, test: &Path, samples: usize) -> Result<CompareReport> {
    let a = read_mesh(reference)?;
    let b = read_mesh(test)?;
    let options = CompareOptions::default().with_samples(samples);
    let metrics = compare_meshes(&a, &b, &options)
        .with_context(|| format!("{} vs {}", reference.display(), test.display()))?;
    Ok(CompareReport { reference: reference.to_owned(), test: test.to_owned(), metrics })
}

/// What `surface shape` did.
#[derive(Debug, Serialize)]
pub struct ShapeReport {
    /// The suite's names (for `list`).
    pub names: Vec<&'static str>,
    /// The file written, if any.
    pub output: Option<PathBuf>,
    /// Measures of the mesh written.
    pub stats: Option<MeshStats>,
}

impl fmt::Display for ShapeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.output, &self.stats) {
            (Some(o), Some(s)) => writeln!(
                f,
                "{} triangles, volume {:.2} mm³ -> {}",
                s.triangles,
                s.volume,
                o.display()
            ),
            _ => writeln!(f, "{}", self.names.join("\n")),
        }
    }
}

/// Writes the concave-suite solid `name` to `output` (or lists the names for `list`).
pub fn shape(name: &str, output: Option<&Path>, voxel: f64) -> Result<ShapeReport> {
    let suite = hounsfield_mesh::concave_suite();
    let names: Vec<&'static str> = suite.iter().map(|(n, _)| *n).collect();
    if name == "list" {
        return Ok(ShapeReport { names, output: None, stats: None });
    }
    let Some((_, shape)) = suite.iter().find(|(n, _)| *n == name) else {
        bail!("no solid {name:?} in the suite (the names: {})", names.join(", "));
    };
    let Some(output) = output else {
        bail!("the solid {name:?} needs an output mesh file");
    };
    MeshFormat::from_path(output)?;
    if !(0.05..=5.0).contains(&voxel) {
        bail!("--voxel {voxel}: 0.05 to 5 mm");
    }
    let mesh = shape.mesh(voxel)?;
    write_mesh(output, &mesh)?;
    Ok(ShapeReport { names, output: Some(output.to_owned()), stats: Some(mesh.stats()) })
}
