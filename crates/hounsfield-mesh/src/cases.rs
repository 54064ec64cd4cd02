//! The marching-cubes case table, derived at first use from one rule instead of typed in.
//!
//! Corner `c` of a cube sits at `(c & 1, c >> 1 & 1, c >> 2 & 1)`; a corner is *inside* when its
//! sample is `>= level`. On each face, walked counter-clockwise around its outward normal, every
//! run of inside corners is cut off by one segment from the crossing where the walk enters the
//! run to the crossing where it leaves. Where a face is ambiguous (inside corners on a diagonal)
//! this separates the two inside corners; the decision depends only on the face's four corners,
//! so the two cubes sharing a face cut it identically and the surface has no cracks. Segments
//! chain into closed loops (each crossing ends one segment and starts another), which are
//! fanned into triangles whose winding puts the inside behind them: normals point outward,
//! towards lower values.

use std::sync::OnceLock;

/// The 12 cube edges as (lower corner, upper corner); the axis is `upper ^ lower` (1, 2 or 4).
pub(crate) const EDGES: [(u8, u8); 12] = [
    (0, 1),
    (2, 3),
    (4, 5),
    (6, 7),
    (0, 2),
    (1, 3),
    (4, 6),
    (5, 7),
    (0, 4),
    (1, 5),
    (2, 6),
    (3, 7),
];

/// The six faces, corners listed counter-clockwise seen from outside the cube.
const FACES: [[u8; 4]; 6] = [
    [0, 2, 3, 1], // z = 0, normal -z
    [4, 5, 7, 6], // z = 1, normal +z
    [0, 1, 5, 4], // y = 0, normal -y
    [2, 6, 7, 3], // y = 1, normal +y
    [0, 4, 6, 2], // x = 0, normal -x
    [1, 3, 7, 5], // x = 1, normal +x
];

/// Whether two cube edges lie on a common face.
fn share_face(e: u8, f: u8) -> bool {
    let corners = |e: u8| {
        let (a, b) = EDGES[e as usize];
        [a, b]
    };
    FACES.iter().any(|face| {
        corners(e).iter().all(|c| face.contains(c)) && corners(f).iter().all(|c| face.contains(c))
    })
}

fn edge_of(a: u8, b: u8) -> u8 {
    let key = (a.min(b), a.max(b));
    EDGES.iter().position(|&e| e == key).unwrap_or(0) as u8
}

/// Triangles (as edge triples) for every case; at most 12 triangles per case.
pub(crate) struct CaseTable {
    pub(crate) triangles: Vec<Vec<[u8; 3]>>,
}

fn build_case(case: usize) -> Vec<[u8; 3]> {
    let inside = |c: u8| case >> c & 1 == 1;
    // next[entry edge] = exit edge of the segment that starts there.
    let mut next = [u8::MAX; 12];
    for face in FACES {
        let crossing = |k: usize| edge_of(face[k], face[(k + 1) % 4]);
        for start in 0..4 {
            // A run of inside corners starts at `start` if the previous corner is outside.
            if !inside(face[start]) || inside(face[(start + 3) % 4]) {
                continue;
            }
            let entry = crossing((start + 3) % 4);
            let mut k = start;
            while inside(face[(k + 1) % 4]) {
                k = (k + 1) % 4;
            }
            next[entry as usize] = crossing(k);
        }
    }
    let mut seen = [false; 12];
    let mut triangles = Vec::new();
    for first in 0..12u8 {
        if next[first as usize] == u8::MAX || seen[first as usize] {
            continue;
        }
        let mut lp = vec![first];
        seen[first as usize] = true;
        let mut e = next[first as usize];
        while e != first && e != u8::MAX && !seen[e as usize] {
            seen[e as usize] = true;
            lp.push(e);
            e = next[e as usize];
        }
        // Fan from a vertex whose diagonals all cross the cube's interior: a diagonal between
        // two crossings of one face would lie in that face, where the neighbouring cube may draw
        // the same diagonal, and the edge would then have four triangles.
        let n = lp.len();
        let start = (0..n)
            .find(|&s| (2..n.saturating_sub(1)).all(|k| !share_face(lp[s], lp[(s + k) % n])))
            .unwrap_or(0); // never taken: the tests check every case has such a vertex
        for k in 1..n.saturating_sub(1) {
            triangles.push([lp[start], lp[(start + k) % n], lp[(start + k + 1) % n]]);
        }
    }
    triangles
}

/// The table, built once.
pub(crate) fn table() -> &'static CaseTable {
    static TABLE: OnceLock<CaseTable> = OnceLock::new();
    TABLE.get_or_init(|| CaseTable { triangles: (0..256).map(build_case).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_is_closed_in_the_cube_and_complement_cases_have_the_same_crossings() {
        let t = table();
        assert!(t.triangles[0].is_empty() && t.triangles[255].is_empty());
        for case in 1..255usize {
            let tris = &t.triangles[case];
            assert!(!tris.is_empty() && tris.len() <= 12, "case {case}: {} triangles", tris.len());
            // Crossed edges are exactly those whose corners differ; every one is used.
            let crossed: Vec<u8> = (0..12u8)
                .filter(|&e| {
                    let (a, b) = EDGES[e as usize];
                    (case >> a & 1) != (case >> b & 1)
                })
                .collect();
            let mut used: Vec<u8> = tris.iter().flatten().copied().collect();
            used.sort_unstable();
            used.dedup();
            assert_eq!(used, crossed, "case {case}");
        }
        // The single-corner case is one triangle whose normal points away from the corner.
        assert_eq!(t.triangles[1].len(), 1);
        // Classic counts: 1 corner -> 1 triangle, an edge (2 adjacent) -> 2, a face -> 2.
        assert_eq!(t.triangles[0b11].len(), 2);
        assert_eq!(t.triangles[0b1111].len(), 2);
    }

    #[test]
    fn no_fan_diagonal_lies_in_a_cube_face() {
        // A triangle edge used twice within a case is a diagonal of a loop's fan; it must cross
        // the cube's interior, or the neighbouring cube could use it too.
        for (case, tris) in table().triangles.iter().enumerate() {
            let mut uses = std::collections::HashMap::new();
            for t in tris {
                for k in 0..3 {
                    let (a, b) = (t[k], t[(k + 1) % 3]);
                    *uses.entry((a.min(b), a.max(b))).or_insert(0) += 1;
                }
            }
            for (&(a, b), &n) in &uses {
                assert!(n <= 2, "case {case}");
                assert!(
                    n == 1 || !share_face(a, b),
                    "case {case}: diagonal {a}-{b} lies in a face"
                );
            }
        }
    }
}
