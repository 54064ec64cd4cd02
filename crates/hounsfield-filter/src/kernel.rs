//! What the separable resampling kernels (linear, cubic B-spline, Lanczos) share: the taps of a
//! kernel along one axis and the tensor-product sum over three axes. Private to the crate; it
//! sits below `resample`, `bspline` and `sinc`, which each use it and not one another.

/// Where each output index of one axis samples the input (`in = scale * out + offset`):
/// `None` outside, else the input indices and weights to blend.
pub(crate) type Taps<const K: usize> = Vec<Option<[(usize, f32); K]>>;

/// The K taps of a kernel at continuous index `p` of an axis of `n` samples: the samples
/// floor(p) - K/2 + 1 ..= floor(p) + K/2 (mirrored at the edges) with the weights `weights`
/// gives for the fraction p - floor(p); `None` beyond half a voxel outside.
pub(crate) fn kernel_taps<const K: usize>(
    p: f64,
    n: usize,
    weights: impl Fn(f64) -> [f64; K],
) -> Option<[(usize, f32); K]> {
    if !(p >= -0.5 && p <= (n - 1) as f64 + 0.5) {
        return None;
    }
    let i = p.floor();
    let w = weights(p - i);
    let first = i as isize - (K as isize / 2 - 1);
    Some(std::array::from_fn(|k| {
        (crate::Boundary::Mirror.index(first + k as isize, n).unwrap_or(0), w[k] as f32)
    }))
}

/// [`kernel_taps`] for every output index of one axis (`in = scale * out + offset`).
pub(crate) fn kernel_table<const K: usize>(
    scale: f64,
    offset: f64,
    n_out: usize,
    n_in: usize,
    weights: impl Fn(f64) -> [f64; K],
) -> Taps<K> {
    (0..n_out).map(|i| kernel_taps(scale * i as f64 + offset, n_in, &weights)).collect()
}

/// Tensor-product interpolation: the sum over the taps of the three axes of weight products
/// times `data` (x, y, z sizes `size`), or `outside` when any axis is outside.
pub(crate) fn tensor_sample<const K: usize>(
    data: &[f32],
    size: [usize; 3],
    taps: [Option<[(usize, f32); K]>; 3],
    outside: f32,
) -> f32 {
    let [Some(tx), Some(ty), Some(tz)] = taps else {
        return outside;
    };
    let mut sum = 0.0;
    for &(z, wz) in &tz {
        for &(y, wy) in &ty {
            let row = &data[(z * size[1] + y) * size[0]..];
            let along: f32 = tx.iter().map(|&(x, wx)| wx * row[x]).sum();
            sum += wz * wy * along;
        }
    }
    sum
}
