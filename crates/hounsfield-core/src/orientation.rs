//! Orientation codes: which anatomical direction each index axis points towards.
//!
//! Letters name the direction an axis *increases towards* (the convention of nibabel's
//! `aff2axcodes` and of ITK's `AnatomicalOrientation` "positive" names): "LPS" means i runs
//! towards the patient's Left, j towards Posterior, k towards Superior, which is the identity
//! direction in DICOM's LPS frame. A NIfTI file whose affine is diagonal positive is "RAS".

use std::fmt;

use crate::error::{Error, Result};
use crate::mat3::Mat3;

/// For each LPS world axis, the letter for its positive and negative directions.
const LETTERS: [(char, char); 3] = [('L', 'R'), ('P', 'A'), ('S', 'I')];

/// The six permutations of three axes, in a fixed order so ties resolve deterministically.
const PERMUTATIONS: [[usize; 3]; 6] =
    [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

/// A signed permutation of the world axes: index axis `n` points along world axis
/// `world_axis[n]`, towards its positive end (L, P or S) unless `flipped[n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Orientation {
    world_axis: [usize; 3],
    flipped: [bool; 3],
}

impl Orientation {
    /// Parses a three-letter code such as "RAS", "LPS" or "LAI" (case-insensitive).
    pub fn from_code(code: &str) -> Result<Self> {
        let letters: Vec<char> = code.trim().chars().map(|c| c.to_ascii_uppercase()).collect();
        let bad = || {
            Error::param(
                "orientation code",
                format!(
                    "expected three letters from L/R, P/A, S/I naming three different axes, found {code:?}"
                ),
            )
        };
        if letters.len() != 3 {
            return Err(bad());
        }
        let mut world_axis = [0; 3];
        let mut flipped = [false; 3];
        for (n, c) in letters.iter().enumerate() {
            let (axis, neg) = LETTERS
                .iter()
                .enumerate()
                .find_map(|(w, &(pos, negc))| match *c {
                    x if x == pos => Some((w, false)),
                    x if x == negc => Some((w, true)),
                    _ => None,
                })
                .ok_or_else(bad)?;
            world_axis[n] = axis;
            flipped[n] = neg;
        }
        if world_axis[0] == world_axis[1]
            || world_axis[0] == world_axis[2]
            || world_axis[1] == world_axis[2]
        {
            return Err(bad());
        }
        Ok(Orientation { world_axis, flipped })
    }

    /// The signed axis permutation closest to `direction` (columns = index axes): the permutation
    /// maximising the summed absolute cosines, each axis signed by its cosine. Every world axis is
    /// used exactly once, even for strongly oblique directions.
    pub fn closest_to(direction: &Mat3) -> Self {
        let score = |p: &[usize; 3]| (0..3).map(|n| direction[p[n]][n].abs()).sum::<f64>();
        let mut best = PERMUTATIONS[0];
        for p in &PERMUTATIONS[1..] {
            if score(p) > score(&best) {
                best = *p;
            }
        }
        let flipped = [0, 1, 2].map(|n| direction[best[n]][n] < 0.0);
        Orientation { world_axis: best, flipped }
    }

    /// The three-letter code, e.g. "LPS".
    pub fn code(&self) -> String {
        (0..3)
            .map(|n| {
                let (pos, neg) = LETTERS[self.world_axis[n]];
                if self.flipped[n] { neg } else { pos }
            })
            .collect()
    }

    /// The world axis (0 = x L/R, 1 = y P/A, 2 = z S/I) that index axis `n` (0..3) runs along.
    pub fn world_axis(&self, n: usize) -> usize {
        self.world_axis[n]
    }

    /// Whether index axis `n` runs towards R, A or I (the negative LPS ends).
    pub fn is_flipped(&self, n: usize) -> bool {
        self.flipped[n]
    }

    /// The signed permutation matrix of this orientation (columns = index axes, LPS rows).
    pub fn direction(&self) -> Mat3 {
        let mut m = [[0.0; 3]; 3];
        for n in 0..3 {
            m[self.world_axis[n]][n] = if self.flipped[n] { -1.0 } else { 1.0 };
        }
        m
    }
}

impl fmt::Display for Orientation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

impl std::str::FromStr for Orientation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_code(s)
    }
}
