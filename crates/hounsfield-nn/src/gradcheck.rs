//! Finite-difference gradient checks for anything built from candle ops (used by this crate's
//! tests, and useful to anyone writing a custom op).

use candle_core::{DType, Result, Tensor, Var};
use hounsfield_core::rng::SplitMix64;

/// Compares candle's backward pass for `f` with central differences, input by input.
///
/// The scalar checked is `sum(f(inputs) * r)` with a fixed random `r`, so every output element
/// contributes. For each input, `samples` elements (all, if fewer) are perturbed by `+-step`;
/// the returned value per input is `|g_analytic - g_numeric| / |g_numeric|` (Euclidean norms
/// over the sampled elements). Inputs should be `f64`: in `f32` the differences are noise.
pub fn relative_errors(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    samples: usize,
    step: f64,
    seed: u64,
) -> Result<Vec<f64>> {
    let mut rng = SplitMix64::new(seed);
    let vars: Vec<Var> = inputs.iter().map(Var::from_tensor).collect::<Result<_>>()?;
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&tensors)?;
    let weights: Vec<f64> = (0..out.elem_count()).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let weights = Tensor::from_vec(weights, out.shape(), out.device())?.to_dtype(out.dtype())?;
    let objective = |ts: &[Tensor]| -> Result<f64> {
        (f(ts)? * &weights)?.sum_all()?.to_dtype(DType::F64)?.to_scalar()
    };
    let grads = (&out * &weights)?.sum_all()?.backward()?;
    let mut errors = Vec::with_capacity(inputs.len());
    for (i, var) in vars.iter().enumerate() {
        let analytic: Vec<f64> = match grads.get(var) {
            Some(g) => g.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?,
            None => vec![0.0; var.elem_count()],
        };
        let base: Vec<f64> = var.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
        let n = base.len();
        let picks: Vec<usize> = if n <= samples {
            (0..n).collect()
        } else {
            (0..samples).map(|_| (rng.uniform(0.0, n as f64) as usize).min(n - 1)).collect()
        };
        let (mut diff, mut norm) = (0.0f64, 0.0f64);
        for &k in &picks {
            let at = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[k] += delta;
                let mut ts = tensors.clone();
                ts[i] = Tensor::from_vec(v, var.shape(), var.device())?.to_dtype(var.dtype())?;
                objective(&ts)
            };
            let numeric = (at(step)? - at(-step)?) / (2.0 * step);
            diff += (analytic[k] - numeric).powi(2);
            norm += numeric.powi(2);
        }
        errors.push(diff.sqrt() / norm.sqrt().max(f64::MIN_POSITIVE));
    }
    Ok(errors)
}
