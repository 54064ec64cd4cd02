//! The 3-vector operations the mesh code uses (from hounsfield-core).

pub(crate) use hounsfield_core::vec3::{Vec3 as V3, cross, dot, lerp, norm, sub};
