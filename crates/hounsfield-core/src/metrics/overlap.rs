//! Overlap of binary masks (non-zero voxels are inside).

use crate::element::Element;
use crate::error::Result;
use crate::volume::Volume;

/// (|A and B|, |A|, |B|).
fn counts<A: Element, B: Element>(a: &Volume<A>, b: &Volume<B>) -> Result<(usize, usize, usize)> {
    a.check_same_shape(b, "second mask")?;
    let (mut both, mut na, mut nb) = (0, 0, 0);
    for (x, y) in a.as_slice().iter().zip(b.as_slice()) {
        let (ia, ib) = (x.to_f64() != 0.0, y.to_f64() != 0.0);
        na += usize::from(ia);
        nb += usize::from(ib);
        both += usize::from(ia && ib);
    }
    Ok((both, na, nb))
}

/// Dice coefficient `2|A and B| / (|A| + |B|)`. Two empty masks agree perfectly: 1.
pub fn dice<A: Element, B: Element>(a: &Volume<A>, b: &Volume<B>) -> Result<f64> {
    let (both, na, nb) = counts(a, b)?;
    Ok(if na + nb == 0 { 1.0 } else { 2.0 * both as f64 / (na + nb) as f64 })
}

/// Jaccard index `|A and B| / |A or B|`. Two empty masks agree perfectly: 1.
pub fn jaccard<A: Element, B: Element>(a: &Volume<A>, b: &Volume<B>) -> Result<f64> {
    let (both, na, nb) = counts(a, b)?;
    let union = na + nb - both;
    Ok(if union == 0 { 1.0 } else { both as f64 / union as f64 })
}
