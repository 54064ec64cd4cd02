//! Thresholds: fixed, and Otsu's with scikit-image's bin convention.

use hounsfield_core::{Element, Error, Result, Volume};

/// 1 where `lo <= v <= hi`, else 0.
pub fn binary_threshold<T: Element>(volume: &Volume<T>, lo: f64, hi: f64) -> Volume<u8> {
    volume.map(|v| {
        let v = v.to_f64();
        u8::from(v >= lo && v <= hi)
    })
}

/// Otsu's threshold: the histogram of `bins` equal bins over [min, max] (numpy.histogram's
/// edges), the threshold the centre of the bin that maximises the between-class variance with
/// that bin in the lower class. This is scikit-image's `threshold_otsu(image, nbins)` for float
/// images (for integer images scikit-image counts one bin per integer instead). Voxels above
/// the threshold are the foreground.
pub fn otsu_threshold<T: Element>(volume: &Volume<T>, bins: usize) -> Result<f64> {
    if bins < 2 {
        return Err(Error::param("bins", format!("needs at least 2, got {bins}")));
    }
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for (i, v) in volume.as_slice().iter().enumerate() {
        let v = v.to_f64();
        if !v.is_finite() {
            return Err(Error::NotFinite { what: "volume", value: v, index: i });
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo == hi {
        return Ok(lo);
    }
    // numpy.histogram exactly: edges from linspace, a first guess from the scaled value, then
    // corrected against the edges; the last bin is closed on the right.
    let step = (hi - lo) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|k| k as f64 * step + lo).collect();
    edges[bins] = hi;
    let norm = bins as f64 / (hi - lo);
    let mut hist = vec![0f64; bins];
    for v in volume.as_slice() {
        let v = v.to_f64();
        let mut b = (((v - lo) * norm) as usize).min(bins - 1);
        if v < edges[b] {
            b -= 1;
        } else if b != bins - 1 && v >= edges[b + 1] {
            b += 1;
        }
        hist[b] += 1.0;
    }
    let centers: Vec<f64> = (0..bins).map(|b| (edges[b] + edges[b + 1]) / 2.0).collect();
    // Class weights and means below (inclusive) and above each split.
    let mut w1 = vec![0f64; bins];
    let mut m1 = vec![0f64; bins];
    let (mut w, mut s) = (0.0, 0.0);
    for b in 0..bins {
        w += hist[b];
        s += hist[b] * centers[b];
        w1[b] = w;
        m1[b] = if w > 0.0 { s / w } else { 0.0 };
    }
    let mut w2 = vec![0f64; bins];
    let mut m2 = vec![0f64; bins];
    let (mut w, mut s) = (0.0, 0.0);
    for b in (0..bins).rev() {
        w += hist[b];
        s += hist[b] * centers[b];
        w2[b] = w;
        m2[b] = if w > 0.0 { s / w } else { 0.0 };
    }
    let mut best = (f64::NEG_INFINITY, 0);
    for b in 0..bins - 1 {
        let between = w1[b] * w2[b + 1] * (m1[b] - m2[b + 1]).powi(2);
        if between > best.0 {
            best = (between, b);
        }
    }
    Ok(centers[best.1])
}

#[cfg(test)]
mod tests {
    use hounsfield_core::Geometry;

    use super::*;

    #[test]
    fn two_clusters_split_between_them() {
        let mut v = vec![10.0f32; 60];
        v.extend(vec![200.0f32; 40]);
        let vol = Volume::from_vec([1, 1, 100], v, Geometry::default()).unwrap();
        let t = otsu_threshold(&vol, 256).unwrap();
        assert!(t > 10.0 && t < 200.0, "{t}");
        let fg = binary_threshold(&vol, t + 1e-9, f64::INFINITY);
        assert_eq!(fg.as_slice().iter().map(|&b| usize::from(b)).sum::<usize>(), 40);
        assert!(otsu_threshold(&vol, 1).is_err());
    }
}
