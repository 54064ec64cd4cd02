//! Reference solids as meshes: test objects with known area, volume and silhouettes.

use hounsfield_core::{Error, Result};

use crate::mesh::TriMesh;
use crate::vec3::{V3, norm};

/// An icosphere: the icosahedron subdivided `subdivisions` times (each step splits every
/// triangle in four) with its vertices pushed onto the sphere of `radius` mm about `centre`.
/// Watertight, outward-wound; `20 * 4^subdivisions` triangles (at most 7 subdivisions).
pub fn icosphere(centre: [f64; 3], radius: f64, subdivisions: u32) -> Result<TriMesh> {
    if !(radius > 0.0 && radius.is_finite() && centre.iter().all(|c| c.is_finite())) {
        return Err(Error::param("icosphere", format!("radius {radius}, centre {centre:?}")));
    }
    if subdivisions > 7 {
        return Err(Error::param("subdivisions", format!("{subdivisions} (at most 7)")));
    }
    let t = (1.0 + 5f64.sqrt()) / 2.0;
    let mut points: Vec<V3> = vec![
        [-1.0, t, 0.0],
        [1.0, t, 0.0],
        [-1.0, -t, 0.0],
        [1.0, -t, 0.0],
        [0.0, -1.0, t],
        [0.0, 1.0, t],
        [0.0, -1.0, -t],
        [0.0, 1.0, -t],
        [t, 0.0, -1.0],
        [t, 0.0, 1.0],
        [-t, 0.0, -1.0],
        [-t, 0.0, 1.0],
    ];
    let mut faces: Vec<[u32; 3]> = vec![
        [0, 11, 5],
        [0, 5, 1],
        [0, 1, 7],
        [0, 7, 10],
        [0, 10, 11],
        [1, 5, 9],
        [5, 11, 4],
        [11, 10, 2],
        [10, 7, 6],
        [7, 1, 8],
        [3, 9, 4],
        [3, 4, 2],
        [3, 2, 6],
        [3, 6, 8],
        [3, 8, 9],
        [4, 9, 5],
        [2, 4, 11],
        [6, 2, 10],
        [8, 6, 7],
        [9, 8, 1],
    ];
    let unit = |p: V3| {
        let n = norm(p);
        [p[0] / n, p[1] / n, p[2] / n]
    };
    for p in &mut points {
        *p = unit(*p);
    }
    for _ in 0..subdivisions {
        let mut midpoints = std::collections::HashMap::new();
        let mut midpoint = |a: u32, b: u32, points: &mut Vec<V3>| -> u32 {
            *midpoints.entry((a.min(b), a.max(b))).or_insert_with(|| {
                let (p, q) = (points[a as usize], points[b as usize]);
                points.push(unit([p[0] + q[0], p[1] + q[1], p[2] + q[2]]));
                (points.len() - 1) as u32
            })
        };
        let mut next = Vec::with_capacity(faces.len() * 4);
        for [a, b, c] in faces {
            let (ab, bc, ca) = (
                midpoint(a, b, &mut points),
                midpoint(b, c, &mut points),
                midpoint(c, a, &mut points),
            );
            next.extend([[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]);
        }
        faces = next;
    }
    let vertices = points
        .iter()
        .map(|p| std::array::from_fn(|k| (centre[k] + radius * p[k]) as f32))
        .collect();
    let mut mesh = TriMesh::new(vertices, faces)?;
    mesh.normals = Some(points.iter().map(|p| p.map(|c| c as f32)).collect());
    Ok(mesh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_icosphere_is_a_closed_sphere() {
        let m = icosphere([1.0, -2.0, 3.0], 5.0, 4).expect("icosphere");
        let s = m.stats();
        assert!(s.is_watertight() && s.euler_characteristic == 2, "{s:?}");
        assert_eq!(s.triangles, 20 * 256);
        // Inscribed polyhedron: volume and area a little below the sphere's (0.5% at level 4).
        let sphere = 4.0 / 3.0 * std::f64::consts::PI * 125.0;
        assert!(s.volume < sphere && s.volume > 0.995 * sphere, "{} vs {sphere}", s.volume);
        assert!(icosphere([0.0; 3], -1.0, 2).is_err() && icosphere([0.0; 3], 1.0, 8).is_err());
    }
}
