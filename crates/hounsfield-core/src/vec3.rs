//! 3-vectors as `[f64; 3]`: the handful of operations geometry code needs everywhere
//! (projectors, meshes, cameras), in one place.

/// A point or direction.
pub type Vec3 = [f64; 3];

/// `a + b`.
pub fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// `a - b`.
pub fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// `s a`.
pub fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

/// `a + s b`.
pub fn add_scaled(a: Vec3, s: f64, b: Vec3) -> Vec3 {
    [a[0] + s * b[0], a[1] + s * b[1], a[2] + s * b[2]]
}

/// `a . b`.
pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// `a x b`.
pub fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

/// Euclidean length.
pub fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

/// `a / |a|`, or `a` itself when it is zero.
pub fn normalize(a: Vec3) -> Vec3 {
    let n = norm(a);
    if n > 0.0 { scale(a, 1.0 / n) } else { a }
}

/// `a + t (b - a)`.
pub fn lerp(a: Vec3, b: Vec3, t: f64) -> Vec3 {
    add_scaled(a, t, sub(b, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_follow_the_right_hand_rule() {
        let (x, y) = ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]);
        assert_eq!(cross(x, y), [0.0, 0.0, 1.0]);
        assert_eq!(dot(add(x, y), sub(x, y)), 0.0);
        let n = normalize([3.0, 0.0, 4.0]);
        assert!(norm(sub(n, [0.6, 0.0, 0.8])) < 1e-15 && (norm(n) - 1.0).abs() < 1e-15);
        assert_eq!(normalize([0.0; 3]), [0.0; 3]);
        assert_eq!(lerp(x, y, 0.25), [0.75, 0.25, 0.0]);
        assert_eq!(add_scaled(x, 2.0, y), scale([0.5, 1.0, 0.0], 2.0));
    }
}
