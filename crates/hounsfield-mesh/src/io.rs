//! STL (binary, ASCII), PLY (binary little-endian, ASCII) and OBJ, read and written.
//!
//! Writes are atomic (a temporary beside the target, then a rename). Readers check every count
//! against the file's size before allocating, and rebuild shared vertices from STL's triangle
//! soup by exact position. Errors name the file and the problem.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use hounsfield_core::{Error, Result, fs};

use crate::mesh::TriMesh;

/// A mesh file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeshFormat {
    /// Binary STL (triangle soup with facet normals).
    StlBinary,
    /// ASCII STL.
    StlAscii,
    /// Binary little-endian PLY (indexed, with normals when the mesh has them).
    PlyBinary,
    /// ASCII PLY.
    PlyAscii,
    /// Wavefront OBJ (indexed, with normals when the mesh has them).
    Obj,
    /// Binary glTF 2.0 (GLB: one indexed triangle primitive, normals when the mesh has them;
    /// coordinates in mm as they are, no axis change). Write-only.
    Glb,
}

impl MeshFormat {
    /// The binary format for `.stl`/`.ply`, OBJ for `.obj`, GLB for `.glb`.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("stl") => Ok(MeshFormat::StlBinary),
            Some("ply") => Ok(MeshFormat::PlyBinary),
            Some("obj") => Ok(MeshFormat::Obj),
            Some("glb") => Ok(MeshFormat::Glb),
            _ => Err(Error::param(
                "mesh file",
                format!("{}: unknown extension (use .stl, .ply, .obj or .glb)", path.display()),
            )),
        }
    }
}

fn bad(path: &Path, what: impl Into<String>) -> Error {
    Error::param("mesh file", format!("{}: {}", path.display(), what.into()))
}

/// Writes `mesh` in the format its extension names (binary STL/PLY, OBJ).
pub fn write_mesh(path: &Path, mesh: &TriMesh) -> Result<()> {
    write_mesh_as(path, mesh, MeshFormat::from_path(path)?)
}

/// Writes `mesh` as `format`, atomically.
pub fn write_mesh_as(path: &Path, mesh: &TriMesh, format: MeshFormat) -> Result<()> {
    let bytes = match format {
        MeshFormat::StlBinary => stl_binary(mesh),
        MeshFormat::StlAscii => stl_ascii(mesh).into_bytes(),
        MeshFormat::PlyBinary => ply(mesh, true),
        MeshFormat::PlyAscii => ply(mesh, false),
        MeshFormat::Obj => obj(mesh).into_bytes(),
        MeshFormat::Glb => glb(mesh)?,
    };
    fs::write_bytes_atomic(path, &bytes)
}

fn facet_normal(mesh: &TriMesh, t: usize) -> [f32; 3] {
    let n = mesh.face_normal(t);
    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    if len > 0.0 { n.map(|c| (c / len) as f32) } else { [0.0; 3] }
}

fn stl_binary(mesh: &TriMesh) -> Vec<u8> {
    let mut out = Vec::with_capacity(84 + 50 * mesh.triangles.len());
    let mut header = [b' '; 80];
    let title = b"hounsfield-mesh binary STL";
    header[..title.len()].copy_from_slice(title);
    out.extend_from_slice(&header);
    out.extend_from_slice(&(mesh.triangles.len() as u32).to_le_bytes());
    for (t, tri) in mesh.triangles.iter().enumerate() {
        let n = facet_normal(mesh, t);
        for v in std::iter::once(n).chain(tri.iter().map(|&i| mesh.vertices[i as usize])) {
            for c in v {
                out.extend_from_slice(&c.to_le_bytes());
            }
        }
        out.extend_from_slice(&[0, 0]);
    }
    out
}

fn stl_ascii(mesh: &TriMesh) -> String {
    let mut s = String::from("solid hounsfield\n");
    for (t, tri) in mesh.triangles.iter().enumerate() {
        let n = facet_normal(mesh, t);
        let _ = writeln!(s, "  facet normal {:e} {:e} {:e}\n    outer loop", n[0], n[1], n[2]);
        for &i in tri {
            let v = mesh.vertices[i as usize];
            let _ = writeln!(s, "      vertex {:e} {:e} {:e}", v[0], v[1], v[2]);
        }
        s.push_str("    endloop\n  endfacet\n");
    }
    s.push_str("endsolid hounsfield\n");
    s
}

fn ply(mesh: &TriMesh, binary: bool) -> Vec<u8> {
    let normals = mesh.normals.as_ref().filter(|n| n.len() == mesh.vertices.len());
    let colours = mesh.colours.as_ref().filter(|c| c.len() == mesh.vertices.len());
    let mut header = String::from("ply\n");
    header.push_str(if binary {
        "format binary_little_endian 1.0\n"
    } else {
        "format ascii 1.0\n"
    });
    header.push_str("comment written by hounsfield-mesh\n");
    let _ = writeln!(header, "element vertex {}", mesh.vertices.len());
    header.push_str("property float x\nproperty float y\nproperty float z\n");
    if normals.is_some() {
        header.push_str("property float nx\nproperty float ny\nproperty float nz\n");
    }
    if colours.is_some() {
        header.push_str("property uchar red\nproperty uchar green\nproperty uchar blue\n");
    }
    let _ = writeln!(header, "element face {}", mesh.triangles.len());
    header.push_str("property list uchar int vertex_indices\nend_header\n");
    let mut out = header.into_bytes();
    if binary {
        for (k, v) in mesh.vertices.iter().enumerate() {
            let extra = normals.map(|n| n[k]);
            for c in v.iter().chain(extra.iter().flatten()) {
                out.extend_from_slice(&c.to_le_bytes());
            }
            if let Some(c) = colours {
                out.extend_from_slice(&c[k]);
            }
        }
        for t in &mesh.triangles {
            out.push(3);
            for &i in t {
                out.extend_from_slice(&(i as i32).to_le_bytes());
            }
        }
    } else {
        let mut s = String::new();
        for (k, v) in mesh.vertices.iter().enumerate() {
            let _ = write!(s, "{} {} {}", v[0], v[1], v[2]);
            if let Some(n) = normals {
                let _ = write!(s, " {} {} {}", n[k][0], n[k][1], n[k][2]);
            }
            if let Some(c) = colours {
                let _ = write!(s, " {} {} {}", c[k][0], c[k][1], c[k][2]);
            }
            s.push('\n');
        }
        for t in &mesh.triangles {
            let _ = writeln!(s, "3 {} {} {}", t[0], t[1], t[2]);
        }
        out.extend_from_slice(s.as_bytes());
    }
    out
}

fn obj(mesh: &TriMesh) -> String {
    let normals = mesh.normals.as_ref().filter(|n| n.len() == mesh.vertices.len());
    let colours = mesh.colours.as_ref().filter(|c| c.len() == mesh.vertices.len());
    let mut s = String::from("# written by hounsfield-mesh\n");
    for (k, v) in mesh.vertices.iter().enumerate() {
        let _ = write!(s, "v {} {} {}", v[0], v[1], v[2]);
        // Vertex colours as the common `v x y z r g b` extension (MeshLab, Blender), in [0, 1].
        if let Some(c) = colours {
            let [r, g, b] = c[k].map(|x| f32::from(x) / 255.0);
            let _ = write!(s, " {r} {g} {b}");
        }
        s.push('\n');
    }
    if let Some(n) = normals {
        for v in n {
            let _ = writeln!(s, "vn {} {} {}", v[0], v[1], v[2]);
        }
    }
    for t in &mesh.triangles {
        let [a, b, c] = t.map(|i| i + 1);
        if normals.is_some() {
            let _ = writeln!(s, "f {a}//{a} {b}//{b} {c}//{c}");
        } else {
            let _ = writeln!(s, "f {a} {b} {c}");
        }
    }
    s
}

/// sRGB (8-bit) to linear light, as glTF's `COLOR_0` holds colours.
fn srgb_to_linear(c: u8) -> f32 {
    let x = f32::from(c) / 255.0;
    if x <= 0.04045 { x / 12.92 } else { ((x + 0.055) / 1.055).powf(2.4) }
}

/// The node matrix (column-major) that takes our positions (LPS, mm) into glTF's frame, in
/// which viewers place them: metres, +Y up (the patient's superior), +Z towards the viewer (the
/// patient's anterior, so the patient faces the viewer), +X to the viewer's right (the
/// patient's left). A rotation and a uniform scale: winding and normals keep their meaning.
const GLTF_FRAME: &str = "[0.001,0,0,0,0,0,-0.001,0,0,0.001,0,0,0,0,0,1]";

/// Binary glTF: a 12-byte header, a JSON chunk describing one triangle primitive, and a binary
/// chunk with positions, optional normals and colours (linear, as `COLOR_0` wants them) and u32
/// indices (each chunk padded to 4 bytes).
fn glb(mesh: &TriMesh) -> Result<Vec<u8>> {
    let v = mesh.vertices.len();
    let normals = mesh.normals.as_ref().filter(|n| n.len() == v);
    let colours = mesh.colours.as_ref().filter(|c| c.len() == v);
    let t = mesh.triangles.len();
    if t == 0 {
        return Err(Error::Empty("mesh without triangles".into()));
    }
    let mut bin: Vec<u8> = Vec::with_capacity(12 * v * 3 + 12 * t);
    // (attribute name, byte offset, byte length) of each float VEC3 vertex attribute.
    let mut attributes: Vec<(&str, usize, usize)> = Vec::new();
    let mut push_vec3 = |name, values: &mut dyn Iterator<Item = f32>, bin: &mut Vec<u8>| {
        let start = bin.len();
        bin.extend(values.flat_map(f32::to_le_bytes));
        attributes.push((name, start, bin.len() - start));
    };
    push_vec3("POSITION", &mut mesh.vertices.iter().flatten().copied(), &mut bin);
    if let Some(n) = normals {
        push_vec3("NORMAL", &mut n.iter().flatten().copied(), &mut bin);
    }
    if let Some(c) = colours {
        push_vec3("COLOR_0", &mut c.iter().flatten().map(|&x| srgb_to_linear(x)), &mut bin);
    }
    let index_offset = bin.len();
    bin.extend(mesh.triangles.iter().flatten().flat_map(|i| i.to_le_bytes()));
    let index_bytes = bin.len() - index_offset;
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for p in &mesh.vertices {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let mut views = Vec::new();
    let mut accessors = Vec::new();
    let mut names = Vec::new();
    for (k, (name, offset, length)) in attributes.iter().enumerate() {
        views.push(format!(
            r#"{{"buffer":0,"byteOffset":{offset},"byteLength":{length},"target":34962}}"#
        ));
        let bounds = if *name == "POSITION" {
            format!(
                r#","min":[{},{},{}],"max":[{},{},{}]"#,
                lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]
            )
        } else {
            String::new()
        };
        accessors.push(format!(
            r#"{{"bufferView":{k},"componentType":5126,"count":{v},"type":"VEC3"{bounds}}}"#
        ));
        names.push(format!(r#""{name}":{k}"#));
    }
    let index = attributes.len();
    views.push(format!(
        r#"{{"buffer":0,"byteOffset":{index_offset},"byteLength":{index_bytes},"target":34963}}"#
    ));
    accessors.push(format!(
        r#"{{"bufferView":{index},"componentType":5125,"count":{},"type":"SCALAR"}}"#,
        3 * t
    ));
    let json = format!(
        concat!(
            r#"{{"asset":{{"version":"2.0","generator":"hounsfield-mesh (positions: LPS mm; node: to glTF metres, +Y superior, +Z anterior)"}},"scene":0,"#,
            r#""scenes":[{{"nodes":[0]}}],"nodes":[{{"mesh":0,"matrix":{GLTF_FRAME}}}],"#,
            r#""meshes":[{{"primitives":[{{"attributes":{{{attributes}}},"indices":{index},"mode":4}}]}}],"#,
            r#""buffers":[{{"byteLength":{total}}}],"bufferViews":[{views}],"accessors":[{accessors}]}}"#
        ),
        attributes = names.join(","),
        index = index,
        GLTF_FRAME = GLTF_FRAME,
        total = bin.len(),
        views = views.join(","),
        accessors = accessors.join(","),
    );
    let mut json = json.into_bytes();
    while json.len() % 4 != 0 {
        json.push(b' ');
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let total =
        u32::try_from(total).map_err(|_| Error::TooLarge(format!("GLB of {total} bytes")))?;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    Ok(out)
}

/// Reads an STL (binary or ASCII), PLY (ASCII or binary little-endian) or OBJ file, chosen by
/// extension (and, for STL, by content).
pub fn read_mesh(path: &Path) -> Result<TriMesh> {
    // The format first (a GLB or an unknown name is refused before the file is read).
    let format = MeshFormat::from_path(path)
        .map_err(|_| bad(path, "unknown extension (meshes are read from .stl, .ply or .obj)"))?;
    if format == MeshFormat::Glb {
        return Err(bad(
            path,
            "GLB is written, not read, by hounsfield-mesh (read .stl, .ply or .obj)",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    match format {
        MeshFormat::StlBinary | MeshFormat::StlAscii => read_stl(path, &bytes),
        MeshFormat::PlyBinary | MeshFormat::PlyAscii => read_ply(path, &bytes),
        MeshFormat::Obj => read_obj(path, &bytes),
        MeshFormat::Glb => Err(bad(path, "GLB is written, not read, by hounsfield-mesh")),
    }
}

/// Indexed mesh from a triangle soup, merging vertices at exactly the same position.
fn weld(path: &Path, soup: Vec<[[f32; 3]; 3]>) -> Result<TriMesh> {
    let mut index: HashMap<[u32; 3], u32> = HashMap::with_capacity(soup.len());
    let mut vertices = Vec::new();
    let mut triangles = Vec::with_capacity(soup.len());
    for tri in soup {
        triangles.push(tri.map(|v| {
            *index.entry(v.map(f32::to_bits)).or_insert_with(|| {
                vertices.push(v);
                (vertices.len() - 1) as u32
            })
        }));
    }
    TriMesh::new(vertices, triangles).map_err(|e| bad(path, e.to_string()))
}

fn read_stl(path: &Path, bytes: &[u8]) -> Result<TriMesh> {
    let binary_size = |n: usize| 84usize.checked_add(n.checked_mul(50)?);
    if bytes.len() >= 84 {
        let n = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]) as usize;
        if binary_size(n) == Some(bytes.len()) {
            let f =
                |o: usize| f32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
            let soup = (0..n)
                .map(|t| {
                    let base = 84 + 50 * t + 12;
                    std::array::from_fn(|v| std::array::from_fn(|c| f(base + 12 * v + 4 * c)))
                })
                .collect();
            return weld(path, soup);
        }
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        bad(path, "neither binary STL (size does not match its triangle count) nor ASCII")
    })?;
    if !text.trim_start().starts_with("solid") {
        return Err(bad(path, "not an STL file (no `solid` and the size does not fit binary STL)"));
    }
    let mut corners = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        if words.next() == Some("vertex") {
            let v: Vec<f32> = words
                .map(str::parse)
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| bad(path, format!("line {}: bad vertex", line_no + 1)))?;
            if v.len() != 3 {
                return Err(bad(path, format!("line {}: a vertex needs 3 numbers", line_no + 1)));
            }
            corners.push([v[0], v[1], v[2]]);
        }
    }
    if corners.len() % 3 != 0 {
        return Err(bad(path, format!("{} vertices do not make whole triangles", corners.len())));
    }
    weld(path, corners.chunks(3).map(|c| [c[0], c[1], c[2]]).collect())
}

fn read_ply(path: &Path, bytes: &[u8]) -> Result<TriMesh> {
    let end = bytes
        .windows(11)
        .position(|w| w == b"end_header\n")
        .ok_or_else(|| bad(path, "no PLY header end"))?
        + 11;
    let header = std::str::from_utf8(&bytes[..end]).map_err(|_| bad(path, "header is not text"))?;
    let mut lines = header.lines();
    if lines.next() != Some("ply") {
        return Err(bad(path, "wrong magic (not `ply`)"));
    }
    let mut binary = false;
    let mut vertex_count = 0usize;
    let mut face_count = 0usize;
    let mut vertex_props: Vec<(String, String)> = Vec::new();
    let mut face_list: Option<(String, String)> = None;
    let mut current = "";
    for line in lines {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["format", "ascii", _] => binary = false,
            ["format", "binary_little_endian", _] => binary = true,
            ["format", other, _] => {
                return Err(bad(path, format!("unsupported PLY format {other}")));
            }
            ["element", "vertex", n] => {
                current = "vertex";
                vertex_count = n.parse().map_err(|_| bad(path, "bad vertex count"))?;
            }
            ["element", "face", n] => {
                current = "face";
                face_count = n.parse().map_err(|_| bad(path, "bad face count"))?;
            }
            ["element", ..] => current = "other",
            ["property", "list", count, index, _] if current == "face" => {
                face_list = Some((count.to_string(), index.to_string()));
            }
            ["property", ty, name] if current == "vertex" => {
                vertex_props.push((ty.to_string(), name.to_string()))
            }
            _ => {}
        }
    }
    let body = &bytes[end..];
    // Every vertex takes at least one byte and every face at least four: refuse counts the file
    // cannot hold before allocating for them.
    if vertex_count > body.len() || face_count > body.len() / 4 + 1 {
        return Err(bad(
            path,
            format!(
                "{vertex_count} vertices and {face_count} faces cannot fit in {} bytes",
                body.len()
            ),
        ));
    }
    let pos = ["x", "y", "z"].map(|n| vertex_props.iter().position(|(_, p)| p == n));
    let [Some(px), Some(py), Some(pz)] = pos else {
        return Err(bad(path, "vertices need x, y and z"));
    };
    let (count_ty, index_ty) = face_list.ok_or_else(|| bad(path, "no face vertex list"))?;
    // Colours as `red green blue`: uchar 0..=255, ushort 0..=65535 or float in [0, 1]; all
    // three or none, of one type.
    let rgb = ["red", "green", "blue"].map(|n| vertex_props.iter().position(|(_, p)| p == n));
    let rgb = match rgb {
        [Some(r), Some(g), Some(b)] => {
            let ty = vertex_props[r].0.as_str();
            if [g, b].iter().any(|&i| vertex_props[i].0 != ty) {
                return Err(bad(path, "red, green and blue have different types"));
            }
            let scale = match ty {
                "uchar" | "uint8" => 1.0,
                "ushort" | "uint16" => 255.0 / 65535.0,
                "float" | "float32" | "double" | "float64" => 255.0,
                other => return Err(bad(path, format!("vertex colours of type {other}"))),
            };
            Some(([r, g, b], scale))
        }
        [None, None, None] => None,
        _ => return Err(bad(path, "vertex colours need all of red, green and blue")),
    };
    // Float colours outside [0, 1] (0..255 written as floats, NaN) are refused, not clamped.
    let to_u8 = |x: f64, scale: f64| -> Result<u8> {
        let v = x * scale;
        if !(v.is_finite() && (-0.5..255.5).contains(&v)) {
            return Err(bad(path, format!("vertex colour {x} is outside its type's range")));
        }
        Ok(v.round().clamp(0.0, 255.0) as u8)
    };
    let mut colours: Vec<[u8; 3]> = Vec::new();
    let mut vertices = Vec::with_capacity(vertex_count);
    let mut triangles = Vec::with_capacity(face_count);
    let fan = |poly: &[i64], triangles: &mut Vec<[u32; 3]>| -> Result<()> {
        if poly.len() < 3 || poly.iter().any(|&i| i < 0 || i as usize >= vertex_count) {
            return Err(bad(path, "a face with fewer than 3 vertices or an index out of range"));
        }
        for k in 1..poly.len() - 1 {
            triangles.push([poly[0] as u32, poly[k] as u32, poly[k + 1] as u32]);
        }
        Ok(())
    };
    if binary {
        let mut r = Reader { bytes: body, at: 0, path };
        for _ in 0..vertex_count {
            let mut v = [0.0f32; 3];
            let mut c = [0u8; 3];
            for (k, (ty, _)) in vertex_props.iter().enumerate() {
                let value = r.scalar(ty)?;
                for (slot, p) in [px, py, pz].iter().enumerate() {
                    if *p == k {
                        v[slot] = value as f32;
                    }
                }
                if let Some((idx, scale)) = rgb {
                    for (slot, p) in idx.iter().enumerate() {
                        if *p == k {
                            c[slot] = to_u8(value, scale)?;
                        }
                    }
                }
            }
            vertices.push(v);
            if rgb.is_some() {
                colours.push(c);
            }
        }
        for _ in 0..face_count {
            let n = r.scalar(&count_ty)? as usize;
            let poly: Vec<i64> =
                (0..n).map(|_| r.scalar(&index_ty).map(|x| x as i64)).collect::<Result<_>>()?;
            fan(&poly, &mut triangles)?;
        }
    } else {
        let text = std::str::from_utf8(body).map_err(|_| bad(path, "ASCII body is not text"))?;
        let mut rows = text.lines().filter(|l| !l.trim().is_empty());
        for k in 0..vertex_count {
            let row = rows.next().ok_or_else(|| bad(path, format!("truncated at vertex {k}")))?;
            let vals: Vec<f64> = row
                .split_whitespace()
                .map(str::parse)
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| bad(path, format!("bad vertex {k}")))?;
            if vals.len() < vertex_props.len() {
                return Err(bad(path, format!("vertex {k} has too few values")));
            }
            vertices.push([vals[px] as f32, vals[py] as f32, vals[pz] as f32]);
            if let Some((idx, scale)) = rgb {
                colours.push([
                    to_u8(vals[idx[0]], scale)?,
                    to_u8(vals[idx[1]], scale)?,
                    to_u8(vals[idx[2]], scale)?,
                ]);
            }
        }
        for k in 0..face_count {
            let row = rows.next().ok_or_else(|| bad(path, format!("truncated at face {k}")))?;
            let vals: Vec<i64> = row
                .split_whitespace()
                .map(str::parse)
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| bad(path, format!("bad face {k}")))?;
            let n = *vals.first().ok_or_else(|| bad(path, format!("empty face {k}")))? as usize;
            if vals.len() != n + 1 {
                return Err(bad(path, format!("face {k} declares {n} vertices")));
            }
            fan(&vals[1..], &mut triangles)?;
        }
    }
    let mut mesh = TriMesh::new(vertices, triangles).map_err(|e| bad(path, e.to_string()))?;
    mesh.colours = rgb.map(|_| colours);
    Ok(mesh)
}

/// A little-endian cursor over a PLY body.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let end = self
            .at
            .checked_add(N)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| bad(self.path, "truncated binary PLY body"))?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(out)
    }

    fn scalar(&mut self, ty: &str) -> Result<f64> {
        Ok(match ty {
            "char" | "int8" => f64::from(i8::from_le_bytes(self.take()?)),
            "uchar" | "uint8" => f64::from(u8::from_le_bytes(self.take()?)),
            "short" | "int16" => f64::from(i16::from_le_bytes(self.take()?)),
            "ushort" | "uint16" => f64::from(u16::from_le_bytes(self.take()?)),
            "int" | "int32" => f64::from(i32::from_le_bytes(self.take()?)),
            "uint" | "uint32" => f64::from(u32::from_le_bytes(self.take()?)),
            "float" | "float32" => f64::from(f32::from_le_bytes(self.take()?)),
            "double" | "float64" => f64::from_le_bytes(self.take()?),
            other => return Err(bad(self.path, format!("unknown PLY type {other}"))),
        })
    }
}

fn read_obj(path: &Path, bytes: &[u8]) -> Result<TriMesh> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad(path, "not a text file"))?;
    let mut vertices = Vec::new();
    // `v x y z r g b` (colours in [0, 1]) when every vertex has them.
    let mut colours: Option<Vec<[u8; 3]>> = Some(Vec::new());
    let mut polys: Vec<(usize, Vec<i64>)> = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("v") => {
                let v: Vec<f32> = w
                    .take(6)
                    .map(str::parse)
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| bad(path, format!("line {}: bad vertex", line_no + 1)))?;
                if v.len() < 3 {
                    return Err(bad(
                        path,
                        format!("line {}: a vertex needs 3 numbers", line_no + 1),
                    ));
                }
                vertices.push([v[0], v[1], v[2]]);
                // Colours on every vertex or on none: a file that mixes them is refused rather
                // than read without its colours.
                let coloured = v.len() == 6;
                if vertices.len() > 1 && coloured != colours.as_ref().is_some_and(|c| !c.is_empty())
                {
                    return Err(bad(
                        path,
                        format!("line {}: colours on some vertices only", line_no + 1),
                    ));
                }
                match (&mut colours, coloured, v.len()) {
                    (Some(c), true, _) => {
                        if v[3..].iter().any(|x| !(0.0..=1.0).contains(x)) {
                            return Err(bad(
                                path,
                                format!("line {}: vertex colours must be in [0, 1]", line_no + 1),
                            ));
                        }
                        c.push([3, 4, 5].map(|k| (v[k] * 255.0).round() as u8));
                    }
                    (_, false, 3) => colours = None,
                    _ => {
                        return Err(bad(
                            path,
                            format!(
                                "line {}: a vertex needs 3 numbers, or 6 with a colour",
                                line_no + 1
                            ),
                        ));
                    }
                }
            }
            Some("f") => {
                let idx: Vec<i64> = w
                    .map(|t| t.split('/').next().unwrap_or("").parse::<i64>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| bad(path, format!("line {}: bad face", line_no + 1)))?;
                polys.push((line_no + 1, idx));
            }
            _ => {}
        }
    }
    let n = vertices.len() as i64;
    let mut triangles = Vec::new();
    for (line, poly) in polys {
        // OBJ indices are 1-based; negative ones count back from the last vertex.
        let resolved: Vec<i64> = poly.iter().map(|&i| if i < 0 { n + i } else { i - 1 }).collect();
        if resolved.len() < 3 || resolved.iter().any(|&i| i < 0 || i >= n) {
            return Err(bad(
                path,
                format!("line {line}: a face with fewer than 3 vertices or an index out of range"),
            ));
        }
        for k in 1..resolved.len() - 1 {
            triangles.push([resolved[0] as u32, resolved[k] as u32, resolved[k + 1] as u32]);
        }
    }
    let mut mesh = TriMesh::new(vertices, triangles).map_err(|e| bad(path, e.to_string()))?;
    mesh.colours = colours.filter(|c| !c.is_empty());
    Ok(mesh)
}
