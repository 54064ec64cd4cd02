#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! Every format round-trips a mesh exactly (positions are f32 in every format), and malformed
//! files give errors that name the file.

use hounsfield_core::{Geometry, Volume};
use hounsfield_mesh::io::{MeshFormat, read_mesh, write_mesh, write_mesh_as};
use hounsfield_mesh::{IsoOptions, TriMesh, isosurface};

fn sample_mesh() -> TriMesh {
    let n = 12;
    let c = 5.3;
    let values = (0..n * n * n)
        .map(|i| {
            let (x, y, z) = ((i % n) as f64, ((i / n) % n) as f64, (i / (n * n)) as f64);
            (4.0 - ((x - c).powi(2) + (y - c).powi(2) + 2.0 * (z - c).powi(2)).sqrt()) as f32
        })
        .collect();
    let g = Geometry::axis_aligned([0.7, 1.1, 1.3], [-3.0, 2.0, 5.0]).unwrap();
    isosurface(&Volume::from_vec([n, n, n], values, g).unwrap(), 0.0, &IsoOptions::default())
        .unwrap()
}

#[test]
fn every_format_round_trips_vertices_and_triangles() {
    let mesh = sample_mesh();
    assert!(mesh.triangles.len() > 100);
    let dir = tempfile::tempdir().unwrap();
    for (name, format) in [
        ("a.stl", MeshFormat::StlBinary),
        ("b.stl", MeshFormat::StlAscii),
        ("c.ply", MeshFormat::PlyBinary),
        ("d.ply", MeshFormat::PlyAscii),
        ("e.obj", MeshFormat::Obj),
    ] {
        let path = dir.path().join(name);
        write_mesh_as(&path, &mesh, format).unwrap();
        let back = read_mesh(&path).unwrap();
        assert_eq!(back.triangles.len(), mesh.triangles.len(), "{name}");
        assert_eq!(
            back.vertices.len(),
            mesh.vertices.len(),
            "{name}: STL is welded back by position"
        );
        // Same triangles with the same positions and winding (STL renumbers vertices).
        for (t, u) in mesh.triangles.iter().zip(&back.triangles) {
            let a = t.map(|i| mesh.vertices[i as usize]);
            let b = u.map(|i| back.vertices[i as usize]);
            assert_eq!(a, b, "{name}");
        }
        let (s, r) = (mesh.stats(), back.stats());
        assert!((s.area - r.area).abs() < 1e-9 * s.area && r.is_watertight(), "{name}");
    }
    // The extension picks the format; unknown extensions are refused.
    write_mesh(&dir.path().join("f.ply"), &mesh).unwrap();
    assert!(write_mesh(&dir.path().join("g.vtk"), &mesh).is_err());
    // Reading names the formats it reads (GLB is written only), before reading the file.
    for (name, needle) in
        [("g.vtk", "read from .stl, .ply or .obj"), ("h.glb", "written, not read")]
    {
        std::fs::write(dir.path().join(name), b"x").unwrap();
        let e = read_mesh(&dir.path().join(name)).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(needle), "{e}");
    }
}

#[test]
fn malformed_files_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mesh = sample_mesh();
    let good = dir.path().join("good.stl");
    write_mesh(&good, &mesh).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cases = [
        write("truncated.stl", &bytes[..bytes.len() - 7]),
        write("huge_count.stl", &[&[0u8; 80][..], &u32::MAX.to_le_bytes()].concat()),
        write("magic.ply", b"plx\nformat ascii 1.0\nend_header\n"),
        write("counts.ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 4000000000\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n\x00"),
        write("index.ply", b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n"),
        write("index.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n"),
        write("text.obj", b"v 0 zero 0\n"),
    ];
    for path in cases {
        let err = read_mesh(&path).unwrap_err().to_string();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(err.contains(&name), "{name}: {err}");
    }
    assert!(read_mesh(&dir.path().join("missing.stl")).is_err());
    // Negative OBJ indices count from the end.
    let p = write("negative.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf -3 -2 -1\n");
    assert_eq!(read_mesh(&p).unwrap().triangles, vec![[0, 1, 2]]);
}

/// Writes `mesh` as GLB in a fresh directory: the directory (kept alive), the path, the bytes.
fn written_glb(mesh: &TriMesh) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.glb");
    write_mesh(&path, mesh).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (dir, path, bytes)
}

/// The little-endian u32 at byte `o`.
fn le_word(bytes: &[u8], o: usize) -> usize {
    u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
}

#[test]
fn glb_files_are_valid_gltf_that_trimesh_reads() {
    let mesh = sample_mesh();
    let (_dir, path, bytes) = written_glb(&mesh);
    let word = |o: usize| le_word(&bytes, o);
    assert_eq!(&bytes[..4], b"glTF");
    assert_eq!((word(4), word(8)), (2, bytes.len()));
    let json_len = word(12);
    assert_eq!(&bytes[16..20], b"JSON");
    let json = std::str::from_utf8(&bytes[20..20 + json_len]).unwrap();
    assert!(json.contains(&format!(r#""count":{},"type":"VEC3""#, mesh.vertices.len())), "{json}");
    assert!(json.contains(&format!(r#""count":{},"type":"SCALAR""#, 3 * mesh.triangles.len())));
    assert_eq!(&bytes[24 + json_len..28 + json_len], b"BIN\0");
    assert!(read_mesh(&path).is_err(), "GLB is write-only");
    // trimesh (peers venv, when present) reads the same triangles and area.
    let Some(py) = std::env::var_os("HOUNSFIELD_PYTHON") else { return };
    let out = std::process::Command::new(py)
        .args([
            "-c",
            "import sys, trimesh; m = trimesh.load(sys.argv[1], force='mesh', process=False); \
             print(len(m.vertices), len(m.faces), m.area, m.is_watertight, *m.vertices[0])",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(f[0].parse::<usize>().unwrap(), mesh.vertices.len());
    assert_eq!(f[1].parse::<usize>().unwrap(), mesh.triangles.len());
    // trimesh applies the node: metres (area x 1e-6, 1e-6 relative), LPS (x, y, z) to glTF
    // (x, z, -y): the first vertex to 1e-9 m.
    let area: f64 = f[2].parse().unwrap();
    assert!((area / (mesh.area() * 1e-6) - 1.0).abs() < 1e-6, "{area} vs {}", mesh.area());
    assert_eq!(f[3], "True");
    let p = mesh.vertices[0].map(f64::from);
    let gltf = [p[0], p[2], -p[1]].map(|v| v * 1e-3);
    for k in 0..3 {
        let got: f64 = f[4 + k].parse().unwrap();
        assert!((got - gltf[k]).abs() < 1e-9, "vertex 0 axis {k}: {got} vs {}", gltf[k]);
    }
}

/// The sample mesh with a colour per vertex from its position (a gradient over the box).
fn coloured_mesh() -> TriMesh {
    let mut mesh = sample_mesh();
    let (lo, hi) = mesh.bounds();
    let colours = mesh
        .vertices
        .iter()
        .map(|p| {
            std::array::from_fn(|k| ((f64::from(p[k]) - lo[k]) / (hi[k] - lo[k]) * 255.0) as u8)
        })
        .collect();
    mesh.colours = Some(colours);
    mesh
}

#[test]
fn vertex_colours_round_trip_through_ply_and_obj_and_survive_processing() {
    let mesh = coloured_mesh();
    let dir = tempfile::tempdir().unwrap();
    for (name, format) in [
        ("c.ply", MeshFormat::PlyBinary),
        ("d.ply", MeshFormat::PlyAscii),
        ("e.obj", MeshFormat::Obj),
    ] {
        let path = dir.path().join(name);
        write_mesh_as(&path, &mesh, format).unwrap();
        let back = read_mesh(&path).unwrap();
        // Exact: PLY stores the bytes; OBJ's x / 255 as f32 text rounds back to the same byte.
        assert_eq!(back.colours, mesh.colours, "{name}");
    }
    // Colours follow their vertices through compaction and component filtering.
    let kept = hounsfield_mesh::keep_largest_component(&mesh);
    assert_eq!(kept.colours.as_ref().map(Vec::len), Some(kept.vertices.len()));
    let c = kept.colours.unwrap();
    for (v, colour) in kept.vertices.iter().zip(&c) {
        let k = mesh.vertices.iter().position(|w| w == v).unwrap();
        assert_eq!(mesh.colours.as_ref().unwrap()[k], *colour);
    }
    // Float colours in [0, 1] (as some writers store them) read as bytes; a partial set is refused.
    let p = dir.path().join("float.ply");
    std::fs::write(&p, b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nproperty float red\nproperty float green\nproperty float blue\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0 1 0 0\n1 0 0 0 1 0\n0 1 0 0 0 0.5\n3 0 1 2\n").unwrap();
    assert_eq!(read_mesh(&p).unwrap().colours, Some(vec![[255, 0, 0], [0, 255, 0], [0, 0, 128]]));
    let p = dir.path().join("partial.ply");
    std::fs::write(&p, b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nproperty uchar red\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0 1\n1 0 0 0\n0 1 0 0\n3 0 1 2\n").unwrap();
    let err = read_mesh(&p).unwrap_err().to_string();
    assert!(err.contains("partial.ply") && err.contains("red, green and blue"), "{err}");
    // 16-bit colours are scaled to 8 bits; colours outside their type's range are refused, not
    // clamped; an OBJ with colours on some vertices only is refused, not read without them.
    let ply = |name: &str, ty: &str, rows: &str| {
        let p = dir.path().join(name);
        let header = format!(
            "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nproperty {ty} red\nproperty {ty} green\nproperty {ty} blue\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
        );
        std::fs::write(&p, format!("{header}{rows}3 0 1 2\n")).unwrap();
        p
    };
    let wide = ply("ushort.ply", "ushort", "0 0 0 65535 0 0\n1 0 0 0 32896 0\n0 1 0 0 0 257\n");
    assert_eq!(read_mesh(&wide).unwrap().colours, Some(vec![[255, 0, 0], [0, 128, 0], [0, 0, 1]]));
    for (name, rows) in [
        ("bytes_as_float.ply", "0 0 0 200 0 0\n1 0 0 0 1 0\n0 1 0 0 0 1\n"),
        ("nan.ply", "0 0 0 nan 0 0\n1 0 0 0 1 0\n0 1 0 0 0 1\n"),
    ] {
        let err = read_mesh(&ply(name, "float", rows)).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains("range"), "{err}");
    }
    for (name, text) in [
        ("some.obj", "v 0 0 0 1 0 0\nv 1 0 0\nv 0 1 0 0 0 1\nf 1 2 3\n"),
        ("bright.obj", "v 0 0 0 255 0 0\nv 1 0 0 0 1 0\nv 0 1 0 0 0 1\nf 1 2 3\n"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let err = read_mesh(&p).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains("line"), "{err}");
    }
}

#[test]
fn glb_vertex_colours_are_linear_and_trimesh_reads_them() {
    let mesh = coloured_mesh();
    let (_dir, path, bytes) = written_glb(&mesh);
    let word = |o: usize| le_word(&bytes, o);
    let json_len = word(12);
    let json: serde_json::Value = serde_json::from_slice(&bytes[20..20 + json_len]).unwrap();
    let colour = &json["meshes"][0]["primitives"][0]["attributes"]["COLOR_0"];
    let accessor = &json["accessors"][colour.as_u64().unwrap() as usize];
    let view = &json["bufferViews"][accessor["bufferView"].as_u64().unwrap() as usize];
    let offset = 28 + json_len + view["byteOffset"].as_u64().unwrap() as usize;
    assert_eq!(view["byteLength"].as_u64().unwrap() as usize, 12 * mesh.vertices.len());
    // glTF's COLOR_0 is linear light: each stored value is the sRGB byte through the sRGB curve
    // (IEC 61966-2-1), checked here at three anchor values and on every vertex to 1e-6.
    let srgb = |c: u8| {
        let x = f64::from(c) / 255.0;
        if x <= 0.04045 { x / 12.92 } else { ((x + 0.055) / 1.055).powf(2.4) }
    };
    assert!((srgb(128) - 0.2158605).abs() < 1e-6 && srgb(255) == 1.0 && srgb(0) == 0.0);
    for (k, c) in mesh.colours.as_ref().unwrap().iter().enumerate() {
        for (ch, &byte) in c.iter().enumerate() {
            let o = offset + 12 * k + 4 * ch;
            let stored = f32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
            assert!((f64::from(stored) - srgb(byte)).abs() < 1e-6, "vertex {k}");
        }
    }
    let Some(py) = std::env::var_os("HOUNSFIELD_PYTHON") else { return };
    // trimesh finds one colour per vertex.
    let out = std::process::Command::new(py)
        .args([
            "-c",
            "import sys, trimesh; m = trimesh.load(sys.argv[1], force='mesh', process=False); \
             print(m.visual.kind, len(m.visual.vertex_colors))",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim(), format!("vertex {}", mesh.vertices.len()));
}
