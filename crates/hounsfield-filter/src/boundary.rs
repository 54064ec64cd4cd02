//! What a filter sees beyond the edge of the volume.

/// How samples outside the volume are defined, named and defined as in scipy.ndimage (the
/// default there and here is [`Boundary::Reflect`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Boundary {
    /// Half-sample symmetric: `d c b a | a b c d | d c b a` (scipy "reflect", ITK's
    /// zero-flux Neumann at the voxel face). Preserves the mean; the default.
    #[default]
    Reflect,
    /// Whole-sample symmetric: `d c b | a b c d | c b a` (scipy "mirror").
    Mirror,
    /// The edge value repeated: `a a a | a b c d | d d d` (scipy "nearest", ITK zero-flux).
    Nearest,
    /// A constant value outside: `k k k | a b c d | k k k` (scipy "constant").
    Constant(f64),
    /// Periodic: `b c d | a b c d | a b c` (scipy "wrap" / "grid-wrap").
    Wrap,
}

impl Boundary {
    /// The index inside `0..n` that index `i` (possibly outside) reads, or `None` for a
    /// constant boundary outside the volume.
    #[inline]
    pub fn index(self, i: isize, n: usize) -> Option<usize> {
        let n = n as isize;
        if (0..n).contains(&i) {
            return Some(i as usize);
        }
        let mapped = match self {
            Boundary::Constant(_) => return None,
            Boundary::Nearest => i.clamp(0, n - 1),
            Boundary::Wrap => i.rem_euclid(n),
            Boundary::Reflect => {
                let period = 2 * n;
                let m = i.rem_euclid(period);
                if m < n { m } else { period - 1 - m }
            }
            Boundary::Mirror => {
                if n == 1 {
                    0
                } else {
                    let period = 2 * (n - 1);
                    let m = i.rem_euclid(period);
                    if m < n { m } else { period - m }
                }
            }
        };
        Some(mapped as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(b: Boundary, n: usize) -> Vec<Option<usize>> {
        (-3..n as isize + 3).map(|i| b.index(i, n)).collect()
    }

    #[test]
    fn each_mode_extends_as_scipy_documents() {
        let s = |v: &[usize]| v.iter().map(|&i| Some(i)).collect::<Vec<_>>();
        // a b c d = indices 0..4; three samples either side.
        assert_eq!(row(Boundary::Reflect, 4), s(&[2, 1, 0, 0, 1, 2, 3, 3, 2, 1]));
        assert_eq!(row(Boundary::Mirror, 4), s(&[3, 2, 1, 0, 1, 2, 3, 2, 1, 0]));
        assert_eq!(row(Boundary::Nearest, 4), s(&[0, 0, 0, 0, 1, 2, 3, 3, 3, 3]));
        assert_eq!(row(Boundary::Wrap, 4), s(&[1, 2, 3, 0, 1, 2, 3, 0, 1, 2]));
        assert_eq!(row(Boundary::Constant(0.0), 4)[..3], [None, None, None]);
        // Far outside and single-sample axes stay in range.
        assert_eq!(Boundary::Reflect.index(-9, 4), Some(0));
        assert_eq!(Boundary::Mirror.index(5, 1), Some(0));
    }
}
