//! Thresholds: fixed, and Otsu's with scikit-image's bin convention.

use hounsfield_core::{Element, Error, Result, Volume};

/// 1 where `lo <= v <= hi`, else 0.
pub fn binary_threshold<T: Element>(volume: &Volume<T>, lo: f64, hi: f64) -> Volume<u8> {
    volume.map(|v| {
        let v = v.to_f64();
        u8::from(v >= lo && v <= hi)
    })
}

/// A histogram as numpy.histogram builds it over the finite range of the values: `bins` equal
/// bins, the last closed on the right; with the bin centres.
struct Histogram {
    counts: Vec<f64>,
    centers: Vec<f64>,
}

/// The values as f64, refusing non-finite ones.
fn finite_values<T: Element>(volume: &Volume<T>) -> Result<Vec<f64>> {
    volume
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let v = v.to_f64();
            if v.is_finite() {
                Ok(v)
            } else {
                Err(Error::NotFinite { what: "volume", value: v, index: i })
            }
        })
        .collect()
}

/// numpy.histogram exactly: edges from linspace, a first guess from the scaled value, then
/// corrected against the edges. `None` when all values are equal.
fn histogram(values: &[f64], bins: usize) -> Result<Option<Histogram>> {
    if bins < 2 {
        return Err(Error::param("bins", format!("needs at least 2, got {bins}")));
    }
    let (lo, hi) =
        values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if lo == hi {
        return Ok(None);
    }
    let step = (hi - lo) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|k| k as f64 * step + lo).collect();
    edges[bins] = hi;
    let norm = bins as f64 / (hi - lo);
    let mut counts = vec![0f64; bins];
    for &v in values {
        let mut b = (((v - lo) * norm) as usize).min(bins - 1);
        if v < edges[b] {
            b -= 1;
        } else if b != bins - 1 && v >= edges[b + 1] {
            b += 1;
        }
        counts[b] += 1.0;
    }
    let centers = (0..bins).map(|b| (edges[b] + edges[b + 1]) / 2.0).collect();
    Ok(Some(Histogram { counts, centers }))
}

/// Otsu's threshold: the histogram of `bins` equal bins over [min, max] (numpy.histogram's
/// edges), the threshold the centre of the bin that maximises the between-class variance with
/// that bin in the lower class. This is scikit-image's `threshold_otsu(image, nbins)` for float
/// images (for integer images scikit-image counts one bin per integer instead). Voxels above
/// the threshold are the foreground.
pub fn otsu_threshold<T: Element>(volume: &Volume<T>, bins: usize) -> Result<f64> {
    let values = finite_values(volume)?;
    let Some(h) = histogram(&values, bins)? else { return Ok(values[0]) };
    Ok(multi_otsu_from(&h, 2)?[0])
}

/// Thresholds splitting the values into `classes` classes (2 to 5) with the largest
/// between-class variance, searched exhaustively over the bin boundaries of a `bins`-bin
/// histogram (scikit-image's `threshold_multiotsu`; with 2 classes, Otsu's threshold).
pub fn multi_otsu_thresholds<T: Element>(
    volume: &Volume<T>,
    classes: usize,
    bins: usize,
) -> Result<Vec<f64>> {
    if !(2..=5).contains(&classes) {
        return Err(Error::param("classes", format!("must be 2 to 5, got {classes}")));
    }
    let values = finite_values(volume)?;
    let Some(h) = histogram(&values, bins)? else {
        return Err(Error::param("volume", "is constant: it has no classes to separate"));
    };
    multi_otsu_from(&h, classes)
}

fn multi_otsu_from(h: &Histogram, classes: usize) -> Result<Vec<f64>> {
    let bins = h.counts.len();
    if bins < classes {
        return Err(Error::param("bins", format!("{bins} bins cannot hold {classes} classes")));
    }
    // Prefix sums of counts and of count * centre: class (a, b] has weight P[b] - P[a].
    let mut p = vec![0f64; bins + 1];
    let mut s = vec![0f64; bins + 1];
    for b in 0..bins {
        p[b + 1] = p[b] + h.counts[b];
        s[b + 1] = s[b] + h.counts[b] * h.centers[b];
    }
    let class = |a: usize, b: usize| {
        let w = p[b] - p[a];
        if w > 0.0 { (s[b] - s[a]).powi(2) / w } else { 0.0 }
    };
    // Thresholds t1 < t2 < ... (bin indices, the last bin of each lower class), searched in
    // lexicographic order keeping the first maximum.
    let mut best = (f64::NEG_INFINITY, vec![0usize; classes - 1]);
    let mut current = vec![0usize; classes - 1];
    fn search(
        depth: usize,
        start: usize,
        bins: usize,
        current: &mut Vec<usize>,
        best: &mut (f64, Vec<usize>),
        class: &dyn Fn(usize, usize) -> f64,
    ) {
        let n = current.len();
        if depth == n {
            let mut bounds = vec![0];
            bounds.extend(current.iter().map(|t| t + 1));
            bounds.push(bins);
            let v: f64 = bounds.windows(2).map(|w| class(w[0], w[1])).sum();
            if v > best.0 {
                *best = (v, current.clone());
            }
            return;
        }
        // Leave room for the remaining thresholds and a non-empty last class.
        for t in start..bins - (n - depth) {
            current[depth] = t;
            search(depth + 1, t + 1, bins, current, best, class);
        }
    }
    search(0, 0, bins, &mut current, &mut best, &class);
    Ok(best.1.iter().map(|&t| h.centers[t]).collect())
}

/// Li's minimum cross-entropy threshold, iterated from the mean until it moves less than half
/// the smallest gap between distinct values (scikit-image's `threshold_li` defaults).
pub fn li_threshold<T: Element>(volume: &Volume<T>) -> Result<f64> {
    let mut values = finite_values(volume)?;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    if values.iter().all(|&v| v == values[0]) {
        return Ok(values[0]);
    }
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    let tolerance = sorted.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min) / 2.0;
    // Shifted to start at zero, as scikit-image does, so the logarithms are defined.
    values.iter_mut().for_each(|v| *v -= min);
    let mut next = values.iter().sum::<f64>() / values.len() as f64;
    let mut current = -2.0 * tolerance;
    for _ in 0..10_000 {
        if (next - current).abs() <= tolerance {
            break;
        }
        current = next;
        let (mut sf, mut nf, mut sb, mut nb) = (0.0, 0usize, 0.0, 0usize);
        for &v in &values {
            if v > current {
                sf += v;
                nf += 1;
            } else {
                sb += v;
                nb += 1;
            }
        }
        let (mean_fore, mean_back) = (sf / nf.max(1) as f64, sb / nb.max(1) as f64);
        if mean_back == 0.0 {
            break;
        }
        next = (mean_back - mean_fore) / (mean_back.ln() - mean_fore.ln());
    }
    Ok(next + min)
}

/// The triangle threshold (Zack et al.): the bin farthest from the line joining the histogram's
/// peak to the far end of its longer tail (scikit-image's `threshold_triangle(image, nbins)`).
pub fn triangle_threshold<T: Element>(volume: &Volume<T>, bins: usize) -> Result<f64> {
    let values = finite_values(volume)?;
    let Some(h) = histogram(&values, bins)? else { return Ok(values[0]) };
    let mut hist = h.counts.clone();
    let n = hist.len();
    let peak =
        hist.iter().enumerate().fold(0, |best, (i, &c)| if c > hist[best] { i } else { best });
    let nonzero: Vec<usize> = (0..n).filter(|&i| hist[i] > 0.0).collect();
    let (mut low, high) = (nonzero[0], nonzero[nonzero.len() - 1]);
    let mut peak_at = peak;
    let flip = peak - low < high - peak;
    if flip {
        hist.reverse();
        low = n - high - 1;
        peak_at = n - peak - 1;
    }
    let width = (peak_at - low) as f64;
    let height = hist[peak_at];
    let norm = (height * height + width * width).sqrt();
    let (height, width) = (height / norm, width / norm);
    let mut best = (f64::NEG_INFINITY, 0usize);
    for x in 0..peak_at - low {
        let length = height * x as f64 - width * hist[x + low];
        if length > best.0 {
            best = (length, x);
        }
    }
    let mut level = best.1 + low;
    if flip {
        level = n - level - 1;
    }
    Ok(h.centers[level])
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
