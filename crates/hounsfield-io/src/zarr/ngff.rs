//! NGFF (OME-Zarr) metadata: the `multiscales` image our stores record and other tools'
//! stores are read through, and the geometry of each level.

use std::path::Path;

use hounsfield_core::{Geometry, Orientation};
use serde_json::{Value, json};

use super::invalid;
use crate::error::{Error, Result};

pub(super) fn xyz(zyx: [f64; 3]) -> [f64; 3] {
    [zyx[2], zyx[1], zyx[0]]
}

/// One NGFF `datasets` entry as written: its array and its transformations in (z, y, x).
pub(super) fn dataset(path: &str, scale: [f64; 3], translation: [f64; 3]) -> Value {
    json!({
        "path": path,
        "coordinateTransformations": [
            {"type": "scale", "scale": scale},
            {"type": "translation", "translation": translation}
        ]
    })
}

/// The group attributes: NGFF 0.5 multiscales (level 0) and our geometry.
/// Where voxel (0, 0, 0) lies along the grid's own axes (x, y, z), mm: the NGFF translation.
/// NGFF places voxels along the array's axes, so for a grid running towards R, A, S this is
/// (-L, -P, S) of the LPS origin, and a reader given the orientation finds the origin again.
fn axes_translation(geometry: &Geometry) -> [f64; 3] {
    let inverse = hounsfield_core::mat3::inverse(&geometry.direction());
    inverse.map_or(geometry.origin(), |m| hounsfield_core::mat3::mul_vec(&m, geometry.origin()))
}

pub(super) fn attributes(geometry: &Geometry) -> Value {
    let [sx, sy, sz] = geometry.spacing();
    let [ox, oy, oz] = axes_translation(geometry);
    let axis = |name: &str| json!({"name": name, "type": "space", "unit": "millimeter"});
    json!({
        "ome": {
            "version": "0.5",
            "multiscales": [{
                "axes": [axis("z"), axis("y"), axis("x")],
                "datasets": [dataset("0", [sz, sy, sx], [oz, oy, ox])]
            }]
        },
        "hounsfield": {
            "frame": "LPS",
            "spacing_xyz": geometry.spacing(),
            "origin_xyz": geometry.origin(),
            "direction": geometry.direction(),
        }
    })
}

/// Level 0's geometry as our attributes record it; `None` for a store written elsewhere.
pub(super) fn geometry_of(
    path: &Path,
    attributes: &serde_json::Map<String, Value>,
) -> Result<Option<Geometry>> {
    let Some(ours) = attributes.get("hounsfield") else { return Ok(None) };
    let get = |key: &str| -> Result<Value> {
        ours.get(key).cloned().ok_or_else(|| invalid(path, format!("hounsfield.{key} missing")))
    };
    if get("frame")? != json!("LPS") {
        return Err(invalid(path, "hounsfield.frame is not \"LPS\""));
    }
    let parse = |key: &str| -> Result<[f64; 3]> {
        serde_json::from_value(get(key)?)
            .map_err(|e| invalid(path, format!("hounsfield.{key}: {e}")))
    };
    let direction: [[f64; 3]; 3] = serde_json::from_value(get("direction")?)
        .map_err(|e| invalid(path, format!("hounsfield.direction: {e}")))?;
    Geometry::new(parse("spacing_xyz")?, parse("origin_xyz")?, direction)
        .map(Some)
        .map_err(|source| Error::Core { path: path.to_owned(), source })
}

/// One resolution level of an NGFF image.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Level {
    /// The array's path inside the group.
    pub(super) path: String,
    /// Voxel spacing `(z, y, x)` in millimetres.
    pub(super) scale: [f64; 3],
    /// Position of voxel (0, 0, 0) `(z, y, x)` in millimetres, along the axes.
    pub(super) translation: [f64; 3],
}

/// The first NGFF multiscale image of a group: its levels and how many axes (t, c) come before
/// z, y, x.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Multiscale {
    pub(super) levels: Vec<Level>,
    pub(super) lead: usize,
}

/// Millimetres per unit of an NGFF length unit.
fn unit_mm(unit: &str) -> Option<f64> {
    Some(match unit {
        "millimeter" => 1.0,
        "micrometer" => 1e-3,
        "nanometer" => 1e-6,
        "centimeter" => 10.0,
        "meter" => 1e3,
        _ => return None,
    })
}

/// Applies a list of NGFF `coordinateTransformations` (scale and translation, in order) to
/// `(scale, translation)` over `n` axes.
fn apply_transforms(
    path: &Path,
    list: &Value,
    n: usize,
    (mut scale, mut translation): (Vec<f64>, Vec<f64>),
) -> Result<(Vec<f64>, Vec<f64>)> {
    let list =
        list.as_array().ok_or_else(|| invalid(path, "coordinateTransformations is not a list"))?;
    for t in list {
        let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
        let values = |key: &str| -> Result<Vec<f64>> {
            let v: Vec<f64> = t
                .get(key)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .ok_or_else(|| Error::Unsupported {
                    path: path.to_owned(),
                    what: format!("an NGFF {kind} without inline values ({t})"),
                })?;
            if v.len() != n || v.iter().any(|x| !x.is_finite()) {
                return Err(invalid(path, format!("{kind} {v:?} for {n} axes")));
            }
            Ok(v)
        };
        match kind {
            "identity" => {}
            "scale" => {
                let s = values("scale")?;
                for k in 0..n {
                    scale[k] *= s[k];
                    translation[k] *= s[k];
                }
            }
            "translation" => {
                let d = values("translation")?;
                for k in 0..n {
                    translation[k] += d[k];
                }
            }
            other => {
                return Err(Error::Unsupported {
                    path: path.to_owned(),
                    what: format!("NGFF coordinate transformation {other:?}"),
                });
            }
        }
    }
    Ok((scale, translation))
}

/// Reads the first multiscale image of a group's attributes (NGFF 0.5 under `ome`, 0.4 and
/// earlier at the top).
pub(super) fn multiscale(
    path: &Path,
    attributes: &serde_json::Map<String, Value>,
) -> Result<Multiscale> {
    let image = attributes
        .get("ome")
        .and_then(|o| o.get("multiscales"))
        .or_else(|| attributes.get("multiscales"))
        .and_then(Value::as_array)
        .and_then(|m| m.first())
        .ok_or_else(|| Error::WrongFormat {
            path: path.to_owned(),
            format: "Zarr (OME-Zarr)",
            reason: "the group's attributes hold no NGFF multiscales image".into(),
        })?;
    let axes = image
        .get("axes")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(path, "multiscales[0].axes missing"))?;
    let name = |a: &Value| {
        a.as_str().or_else(|| a.get("name").and_then(Value::as_str)).unwrap_or("").to_owned()
    };
    let names: Vec<String> = axes.iter().map(name).collect();
    let n = axes.len();
    if n < 3 || names[n - 3..] != ["z", "y", "x"] {
        return Err(Error::Unsupported {
            path: path.to_owned(),
            what: format!("NGFF axes {names:?}: the last three must be z, y, x"),
        });
    }
    let lead = n - 3;
    if let Some(a) =
        axes[..lead].iter().find(|a| a.get("type").and_then(Value::as_str) == Some("space"))
    {
        return Err(Error::Unsupported {
            path: path.to_owned(),
            what: format!("NGFF axes {names:?}: spatial axis {} before z, y, x", name(a)),
        });
    }
    let mut mm = [1.0; 3];
    for (k, a) in axes[lead..].iter().enumerate() {
        let unit = a.get("unit").and_then(Value::as_str);
        mm[k] = unit.and_then(unit_mm).ok_or_else(|| Error::Unsupported {
            path: path.to_owned(),
            what: format!(
                "NGFF axis {} in {}: its spacing cannot be read as millimetres",
                names[lead + k],
                unit.map_or("no unit".to_owned(), |u| format!("unit {u:?}"))
            ),
        })?;
    }
    let datasets = image
        .get("datasets")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| invalid(path, "multiscales[0].datasets missing or empty"))?;
    let mut levels = Vec::with_capacity(datasets.len());
    for d in datasets {
        let level_path = d
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| {
                !p.is_empty() && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
            })
            .ok_or_else(|| {
                invalid(path, format!("dataset path missing or leaves the group: {d}"))
            })?;
        let mut st = (vec![1.0; n], vec![0.0; n]);
        let list = d.get("coordinateTransformations").and_then(Value::as_array);
        let scaled = list.is_some_and(|l| {
            l.iter().any(|t| t.get("type").and_then(Value::as_str) == Some("scale"))
        });
        if !scaled {
            return Err(Error::Unsupported {
                path: path.to_owned(),
                what: format!(
                    "NGFF dataset {level_path} has no scale transformation (NGFF requires one): \
                     its voxel spacing would be a guess"
                ),
            });
        }
        if let Some(list) = d.get("coordinateTransformations") {
            st = apply_transforms(path, list, n, st)?;
        }
        if let Some(list) = image.get("coordinateTransformations") {
            st = apply_transforms(path, list, n, st)?;
        }
        let (scale, translation) = st;
        let scale: [f64; 3] = std::array::from_fn(|k| scale[lead + k] * mm[k]);
        if scale.iter().any(|&s| s <= 0.0) {
            return Err(invalid(path, format!("level {level_path}: scale {scale:?} mm")));
        }
        levels.push(Level {
            path: level_path.to_owned(),
            scale,
            translation: std::array::from_fn(|k| translation[lead + k] * mm[k]),
        });
    }
    Ok(Multiscale { levels, lead })
}

/// The geometry of `level`: from our level-0 geometry shifted and scaled as NGFF describes the
/// level, or for a store written elsewhere from NGFF and the caller's orientation.
pub(super) fn level_geometry(
    path: &Path,
    ours: Option<Geometry>,
    image: &Multiscale,
    level: usize,
    orientation: Option<Orientation>,
) -> Result<Geometry> {
    let l = &image.levels[level];
    let core = |source| Error::Core { path: path.to_owned(), source };
    match (ours, orientation) {
        (Some(g0), given) => {
            let recorded = g0.orientation();
            if let Some(o) = given.filter(|o| *o != recorded) {
                return Err(invalid(
                    path,
                    format!(
                        "the store records orientation {}, not the {} given",
                        recorded.code(),
                        o.code()
                    ),
                ));
            }
            // Level 0's NGFF transformations must describe the recorded grid (a store edited by
            // another tool may not): the other levels are placed through them. Stores written
            // before 2026-12-07 recorded the LPS origin as the translation; both are accepted.
            let base = &image.levels[0];
            let spacing = xyz(base.scale);
            let scale_agrees =
                (0..3).all(|k| (spacing[k] - g0.spacing()[k]).abs() <= 1e-6 * g0.spacing()[k]);
            let near =
                |t: [f64; 3]| (0..3).all(|k| (xyz(base.translation)[k] - t[k]).abs() <= 1e-6);
            if !scale_agrees || !(near(axes_translation(&g0)) || near(g0.origin())) {
                return Err(invalid(
                    path,
                    format!(
                        "NGFF level 0 (scale {:?}, translation {:?} mm, x y z) disagrees with the \
                         recorded geometry (spacing {:?}, origin {:?} mm): edited by another tool?",
                        spacing,
                        xyz(base.translation),
                        g0.spacing(),
                        g0.origin()
                    ),
                ));
            }
            if level == 0 {
                return Ok(g0);
            }
            let shift = xyz(std::array::from_fn(|k| l.translation[k] - base.translation[k]));
            let moved = hounsfield_core::mat3::mul_vec(&g0.direction(), shift);
            let origin: [f64; 3] = std::array::from_fn(|k| g0.origin()[k] + moved[k]);
            Geometry::new(xyz(l.scale), origin, g0.direction()).map_err(core)
        }
        (None, Some(o)) => {
            let direction = o.direction();
            let origin = hounsfield_core::mat3::mul_vec(&direction, xyz(l.translation));
            Geometry::new(xyz(l.scale), origin, direction).map_err(core)
        }
        (None, None) => Err(Error::Unsupported {
            path: path.to_owned(),
            what: "OME-Zarr without a `hounsfield` geometry: NGFF records no patient \
                   orientation, so its voxels cannot be placed without a guess; say which way \
                   its x, y, z axes run to read it (an orientation code such as RAS: the \
                   CLI's --orientation, Python's orientation=)"
                .into(),
        }),
    }
}
