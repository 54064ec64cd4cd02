//! Intensity transforms: CT windows, rescaling, clipping, z-score and percentile normalisation.

use hounsfield_core::{Element, Error, Result, Volume};

pub use hounsfield_core::display::{Window, WindowPreset};

/// Maps every voxel through `window` onto 0..1.
pub fn window<T: Element>(volume: &Volume<T>, window: Window) -> Volume<f32> {
    volume.map(|v| window.unit(v.to_f64()) as f32)
}

/// Clamps values into `lo..=hi`.
pub fn clip<T: Element>(volume: &Volume<T>, lo: f64, hi: f64) -> Result<Volume<f32>> {
    if lo.is_nan() || hi.is_nan() || lo > hi {
        return Err(Error::param("clip", format!("needs lo <= hi, got {lo} and {hi}")));
    }
    Ok(volume.map(|v| v.to_f64().clamp(lo, hi) as f32))
}

/// Linearly maps the volume's range onto `lo..=hi` (a constant volume maps to `lo`).
pub fn rescale<T: Element>(volume: &Volume<T>, lo: f64, hi: f64) -> Result<Volume<f32>> {
    let (min, max) = finite_range(volume)?;
    let scale = if max > min { (hi - lo) / (max - min) } else { 0.0 };
    Ok(volume.map(|v| (lo + (v.to_f64() - min) * scale) as f32))
}

/// Subtracts the mean and divides by the standard deviation (population), over the voxels
/// where `mask` is non-zero, or all voxels.
pub fn zscore<T: Element>(volume: &Volume<T>, mask: Option<&Volume<u8>>) -> Result<Volume<f32>> {
    let values = selected(volume, mask)?;
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let sd = var.sqrt();
    if sd.is_nan() || sd <= 0.0 {
        return Err(Error::param(
            "volume",
            "has no variation to normalise by (standard deviation 0)",
        ));
    }
    Ok(volume.map(|v| ((v.to_f64() - mean) / sd) as f32))
}

/// Maps the `lo_pct` and `hi_pct` percentiles (linear interpolation between order statistics,
/// numpy's default) onto 0 and 1, clamping outside.
pub fn percentile_normalize<T: Element>(
    volume: &Volume<T>,
    lo_pct: f64,
    hi_pct: f64,
) -> Result<Volume<f32>> {
    if !(0.0..=100.0).contains(&lo_pct) || !(0.0..=100.0).contains(&hi_pct) || lo_pct >= hi_pct {
        return Err(Error::param(
            "percentiles",
            format!("need 0 <= lo < hi <= 100, got {lo_pct} and {hi_pct}"),
        ));
    }
    let mut values = selected(volume, None)?;
    values.sort_by(f64::total_cmp);
    let (lo, hi) = (percentile(&values, lo_pct), percentile(&values, hi_pct));
    let scale = if hi > lo { 1.0 / (hi - lo) } else { 0.0 };
    Ok(volume.map(|v| ((v.to_f64() - lo) * scale).clamp(0.0, 1.0) as f32))
}

/// Maps the values of `volume` so that their histogram matches `reference`'s: each distinct
/// value goes to the reference value at the same cumulative quantile, interpolated linearly
/// between the reference's distinct values (scikit-image's `match_histograms`).
pub fn match_histogram<T: Element, U: Element>(
    volume: &Volume<T>,
    reference: &Volume<U>,
) -> Result<Volume<f32>> {
    let unique_counts = |values: Vec<f64>| -> (Vec<f64>, Vec<f64>) {
        let mut v = values;
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        let (mut values, mut quantiles) = (Vec::new(), Vec::new());
        let mut seen = 0usize;
        for (i, &x) in v.iter().enumerate() {
            seen += 1;
            if i + 1 == v.len() || v[i + 1] != x {
                values.push(x);
                quantiles.push(seen as f64 / n);
            }
        }
        (values, quantiles)
    };
    let (src_values, src_q) = unique_counts(selected(volume, None)?);
    let (ref_values, ref_q) = unique_counts(selected(reference, None)?);
    // numpy.interp(src_q, ref_q, ref_values): clamped at both ends.
    let mapped: Vec<f64> = src_q
        .iter()
        .map(|&q| {
            let j = ref_q.partition_point(|&r| r < q);
            if j == 0 {
                ref_values[0]
            } else if j == ref_q.len() {
                ref_values[ref_values.len() - 1]
            } else if ref_q[j] == q {
                ref_values[j]
            } else {
                let t = (q - ref_q[j - 1]) / (ref_q[j] - ref_q[j - 1]);
                ref_values[j - 1] + t * (ref_values[j] - ref_values[j - 1])
            }
        })
        .collect();
    Ok(volume.map(|v| {
        let v = v.to_f64();
        let i = src_values.partition_point(|&s| s < v);
        mapped[i.min(mapped.len() - 1)] as f32
    }))
}

/// numpy's default ("linear") percentile of sorted values.
pub fn percentile(sorted: &[f64], pct: f64) -> f64 {
    let pos = pct / 100.0 * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
}

/// The finite values under the mask (or all), refusing NaN and an empty selection.
fn selected<T: Element>(volume: &Volume<T>, mask: Option<&Volume<u8>>) -> Result<Vec<f64>> {
    if let Some(m) = mask {
        volume.check_same_shape(m, "mask")?;
    }
    let mut out = Vec::with_capacity(volume.len());
    for (i, v) in volume.as_slice().iter().enumerate() {
        if mask.is_some_and(|m| m.as_slice()[i] == 0) {
            continue;
        }
        let v = v.to_f64();
        if !v.is_finite() {
            return Err(Error::NotFinite { what: "volume", value: v, index: i });
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(Error::Empty("the mask selects no voxel".into()));
    }
    Ok(out)
}

fn finite_range<T: Element>(volume: &Volume<T>) -> Result<(f64, f64)> {
    let values = selected(volume, None)?;
    Ok(values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v))))
}

#[cfg(test)]
mod tests {
    use hounsfield_core::Geometry;

    use super::*;

    fn ramp() -> Volume<i16> {
        Volume::from_vec([1, 1, 5], vec![-1000, -160, 40, 240, 3000], Geometry::default()).unwrap()
    }

    #[test]
    fn windows_map_level_to_one_half_and_clamp() {
        let w = window(&ramp(), WindowPreset::Brain.window());
        assert_eq!(w.as_slice(), [0.0, 0.0, 0.5, 1.0, 1.0]);
        let bone = Window::preset("Bone").unwrap();
        assert_eq!(bone, WindowPreset::Bone.window());
        assert!((bone.unit(400.0) - 0.5).abs() < 1e-12);
        assert!(Window::preset("kidney").unwrap_err().to_string().contains("known:"));
        assert!(Window::new(0.0, 0.0).is_err());
    }

    #[test]
    fn rescale_clip_zscore_and_percentiles() {
        let r = rescale(&ramp(), 0.0, 1.0).unwrap();
        assert_eq!((r.as_slice()[0], r.as_slice()[4]), (0.0, 1.0));
        assert_eq!(
            clip(&ramp(), -100.0, 100.0).unwrap().as_slice(),
            [-100.0, -100.0, 40.0, 100.0, 100.0]
        );
        let z = zscore(&ramp(), None).unwrap();
        let mean: f32 = z.as_slice().iter().sum::<f32>() / 5.0;
        let var: f32 = z.as_slice().iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 5.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5);
        // numpy.percentile([-1000, -160, 40, 240, 3000], [25, 75]) = -160, 240.
        let p = percentile_normalize(&ramp(), 25.0, 75.0).unwrap();
        assert_eq!(p.as_slice(), [0.0, 0.0, 0.5, 1.0, 1.0]);
        let flat = Volume::filled([1, 1, 3], 7.0f32, Geometry::default()).unwrap();
        assert!(zscore(&flat, None).is_err());
        let nan = Volume::from_vec([1, 1, 2], vec![1.0f32, f32::NAN], Geometry::default()).unwrap();
        assert!(matches!(rescale(&nan, 0.0, 1.0), Err(Error::NotFinite { index: 1, .. })));
    }
}
