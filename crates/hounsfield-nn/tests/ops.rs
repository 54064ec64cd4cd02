#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
//! The 3D ops against independent references (direct loops, candle's own 2D ops) and against
//! finite differences (`f64`, relative error < 1e-4 as the issue asks).

use candle_core::{DType, Device, Tensor};
use hounsfield_core::rng::SplitMix64;
use hounsfield_nn::gradcheck::relative_errors;
use hounsfield_nn::ops::{
    Conv3dConfig, Upsample, avg_pool3d, bias_prelu, conv_transpose3d, conv3d, instance_norm,
    instance_norm_act, max_pool3d, upsample3d,
};

fn random(dims: &[usize], seed: u64) -> Tensor {
    let mut rng = SplitMix64::new(seed);
    let n = dims.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    values(a).iter().zip(values(b)).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Direct 7-loop convolution, the textbook definition (no im2col).
fn direct_conv(x: &Tensor, w: &Tensor, c: Conv3dConfig) -> Tensor {
    let (n, ci, d, h, wd) = x.dims5().unwrap();
    let (o, cg, kd, kh, kw) = w.dims5().unwrap();
    let og = o / c.groups;
    let out = |len: usize, k: usize, a: usize| {
        (len + 2 * c.padding[a] - c.dilation[a] * (k - 1) - 1) / c.stride[a] + 1
    };
    let (od, oh, ow) = (out(d, kd, 0), out(h, kh, 1), out(wd, kw, 2));
    let (xv, wv) = (values(x), values(w));
    let mut y = vec![0.0; n * o * od * oh * ow];
    let at = |len: usize, o: usize, k: usize, a: usize| -> Option<usize> {
        (o * c.stride[a] + k * c.dilation[a]).checked_sub(c.padding[a]).filter(|&i| i < len)
    };
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for z in 0..od {
                for yy in 0..oh {
                    for xx in 0..ow {
                        let mut acc = 0.0;
                        for c_ in 0..cg {
                            let ic = g * cg + c_;
                            for a in 0..kd {
                                for bb in 0..kh {
                                    for e in 0..kw {
                                        if let (Some(iz), Some(iy), Some(ix)) =
                                            (at(d, z, a, 0), at(h, yy, bb, 1), at(wd, xx, e, 2))
                                        {
                                            acc += xv
                                                [(((b * ci + ic) * d + iz) * h + iy) * wd + ix]
                                                * wv[(((oc * cg + c_) * kd + a) * kh + bb) * kw
                                                    + e];
                                        }
                                    }
                                }
                            }
                        }
                        y[(((b * o + oc) * od + z) * oh + yy) * ow + xx] = acc;
                    }
                }
            }
        }
    }
    Tensor::from_vec(y, (n, o, od, oh, ow), &Device::Cpu).unwrap()
}

fn configs() -> Vec<(Vec<usize>, Vec<usize>, Conv3dConfig)> {
    vec![
        (vec![2, 3, 5, 6, 7], vec![4, 3, 3, 3, 3], Conv3dConfig::same(3)),
        (
            vec![1, 4, 7, 6, 9],
            vec![6, 2, 3, 2, 3],
            Conv3dConfig::default().with_stride([2, 1, 2]).with_padding([1, 0, 1]).with_groups(2),
        ),
        (
            vec![1, 2, 9, 8, 7],
            vec![3, 2, 3, 3, 2],
            Conv3dConfig::default().with_dilation([2, 1, 3]).with_padding([2, 1, 0]),
        ),
        (vec![2, 1, 4, 4, 4], vec![2, 1, 1, 1, 1], Conv3dConfig::default()),
        (vec![1, 2, 6, 6, 6], vec![2, 2, 2, 2, 2], Conv3dConfig::default().with_stride([2, 2, 2])),
    ]
}

#[test]
fn conv3d_equals_the_direct_sum() {
    // Tolerance 1e-12 in f64: the same products summed in another order.
    for (i, (xd, wd, cfg)) in configs().into_iter().enumerate() {
        let (x, w) = (random(&xd, 1 + i as u64), random(&wd, 100 + i as u64));
        let fast = conv3d(&x, &w, cfg).unwrap();
        let err = max_abs_diff(&fast, &direct_conv(&x, &w, cfg));
        assert!(err < 1e-12, "config {i}: {err}");
        // f32 agrees to single-precision rounding.
        let f32_out =
            conv3d(&x.to_dtype(DType::F32).unwrap(), &w.to_dtype(DType::F32).unwrap(), cfg)
                .unwrap();
        assert!(max_abs_diff(&f32_out, &fast) < 1e-5, "config {i} in f32");
    }
}

#[test]
fn conv3d_of_a_flat_kernel_equals_candles_conv2d() {
    // A (1, KH, KW) kernel on depth 1 is candle's own conv2d (im2col on its side too); 1e-12.
    let x = random(&[2, 3, 1, 9, 8], 7);
    let w = random(&[5, 3, 1, 3, 3], 8);
    let ours =
        conv3d(&x, &w, Conv3dConfig::default().with_padding([0, 1, 1]).with_stride([1, 2, 2]))
            .unwrap();
    let theirs = x
        .squeeze(2)
        .unwrap()
        .conv2d(&w.squeeze(2).unwrap(), 1, 2, 1, 1)
        .unwrap()
        .unsqueeze(2)
        .unwrap();
    assert!(max_abs_diff(&ours, &theirs) < 1e-12);
    let up = conv_transpose3d(
        &x,
        &random(&[3, 4, 1, 2, 2], 9),
        Conv3dConfig::default().with_stride([1, 2, 2]),
        [0; 3],
    )
    .unwrap();
    let w2 = random(&[3, 4, 1, 2, 2], 9).squeeze(2).unwrap();
    let theirs =
        x.squeeze(2).unwrap().conv_transpose2d(&w2, 0, 0, 2, 1).unwrap().unsqueeze(2).unwrap();
    assert!(max_abs_diff(&up, &theirs) < 1e-12);
}

#[test]
fn conv_transpose3d_is_the_adjoint_of_conv3d() {
    // <conv(x, w), y> = <x, conv_transpose(y, w)> to 1e-12 relative, output_padding restoring
    // the input size of a strided convolution.
    for (i, (xd, wd, cfg)) in configs().into_iter().enumerate() {
        let (x, w) = (random(&xd, 20 + i as u64), random(&wd, 40 + i as u64));
        let y = conv3d(&x, &w, cfg).unwrap();
        let r = random(y.dims(), 60 + i as u64);
        let (_, _, yd, yh, yw) = y.dims5().unwrap();
        let pad: Vec<usize> = (0..3)
            .map(|a| {
                let full =
                    ([yd, yh, yw][a] - 1) * cfg.stride[a] + cfg.dilation[a] * (wd[a + 2] - 1) + 1
                        - 2 * cfg.padding[a];
                xd[a + 2] - full
            })
            .collect();
        let back = conv_transpose3d(&r, &w, cfg, [pad[0], pad[1], pad[2]]).unwrap();
        assert_eq!(back.dims(), x.dims());
        let lhs: f64 = values(&y).iter().zip(values(&r)).map(|(a, b)| a * b).sum();
        let rhs: f64 = values(&x).iter().zip(values(&back)).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0), "config {i}: {lhs} vs {rhs}");
    }
}

#[test]
fn gradients_of_conv3d_and_conv_transpose3d_match_finite_differences() {
    for (i, (xd, wd, cfg)) in configs().into_iter().enumerate() {
        let (x, w) = (random(&xd, 80 + i as u64), random(&wd, 90 + i as u64));
        let errs = relative_errors(
            |t| conv3d(&t[0], &t[1], cfg),
            &[x.clone(), w.clone()],
            40,
            1e-6,
            i as u64,
        )
        .unwrap();
        assert!(errs.iter().all(|&e| e < 1e-4), "conv3d config {i}: {errs:?}");
        // The transposed convolution, with the conv's weight read as (C_in, C_out / g, k...).
        let wt = random(&[xd[1], wd[0] / cfg.groups, wd[2], wd[3], wd[4]], 95 + i as u64);
        let errs = relative_errors(
            |t| conv_transpose3d(&t[0], &t[1], cfg, [0; 3]),
            &[x, wt],
            40,
            1e-6,
            i as u64,
        )
        .unwrap();
        assert!(errs.iter().all(|&e| e < 1e-4), "conv_transpose3d config {i}: {errs:?}");
    }
}

#[test]
fn pooling_matches_candle_and_finite_differences() {
    // Non-overlapping 2x2 windows on depth 1 are candle's max_pool2d/avg_pool2d; exact.
    let x = random(&[2, 3, 1, 8, 6], 11);
    let flat = x.squeeze(2).unwrap();
    let ours = max_pool3d(&x, [1, 2, 2], [1, 2, 2], [0; 3]).unwrap();
    assert_eq!(max_abs_diff(&ours, &flat.max_pool2d(2).unwrap().unsqueeze(2).unwrap()), 0.0);
    let ours = avg_pool3d(&x, [1, 2, 2], [1, 2, 2], [0; 3]).unwrap();
    assert!(max_abs_diff(&ours, &flat.avg_pool2d(2).unwrap().unsqueeze(2).unwrap()) < 1e-15);
    // Overlapping, padded windows: gradients by finite differences (random values: no ties).
    let x = random(&[1, 2, 7, 6, 5], 12);
    for (k, s, p) in [
        ([2, 2, 2], [2, 2, 2], [0; 3]),
        ([3, 3, 3], [2, 2, 2], [1, 1, 1]),
        ([3, 2, 3], [1, 2, 2], [1, 0, 1]),
    ] {
        let errs =
            relative_errors(|t| max_pool3d(&t[0], k, s, p), std::slice::from_ref(&x), 60, 1e-6, 1)
                .unwrap();
        assert!(errs[0] < 1e-4, "max {k:?} {s:?} {p:?}: {errs:?}");
        let errs =
            relative_errors(|t| avg_pool3d(&t[0], k, s, p), std::slice::from_ref(&x), 60, 1e-6, 1)
                .unwrap();
        assert!(errs[0] < 1e-4, "avg {k:?} {s:?} {p:?}: {errs:?}");
    }
    // Averages of a padded window count the zeros (PyTorch's count_include_pad): corner of
    // ones with a 3^3 window and padding 1 sees 8 of 27 samples.
    let ones = Tensor::ones((1, 1, 4, 4, 4), DType::F64, &Device::Cpu).unwrap();
    let corner = values(&avg_pool3d(&ones, [3; 3], [1; 3], [1; 3]).unwrap())[0];
    assert!((corner - 8.0 / 27.0).abs() < 1e-15);
}

#[test]
fn upsampling_matches_candle_and_reproduces_linear_ramps() {
    let x = random(&[1, 2, 1, 3, 4], 13);
    let ours = upsample3d(&x, [1, 6, 8], Upsample::Nearest).unwrap();
    let theirs = x.squeeze(2).unwrap().upsample_nearest2d(6, 8).unwrap().unsqueeze(2).unwrap();
    assert_eq!(max_abs_diff(&ours, &theirs), 0.0);
    // Trilinear with half-voxel centres maps a ramp v = 2 z + 3 y - x sampled at voxel centres to
    // the same ramp at the new centres, wherever no clamping happens (1e-12).
    let (d, h, w) = (4, 5, 6);
    let ramp = |z: f64, y: f64, x: f64| 2.0 * z + 3.0 * y - x;
    let v: Vec<f64> = (0..d * h * w)
        .map(|i| ramp((i / (h * w)) as f64, (i / w % h) as f64, (i % w) as f64))
        .collect();
    let t = Tensor::from_vec(v, (1, 1, d, h, w), &Device::Cpu).unwrap();
    let up = values(&upsample3d(&t, [8, 10, 12], Upsample::Trilinear).unwrap());
    for z in 1..7 {
        for y in 1..9 {
            for x in 1..11 {
                let src = |o: usize| (o as f64 + 0.5) / 2.0 - 0.5;
                let want = ramp(src(z), src(y), src(x));
                assert!((up[(z * 10 + y) * 12 + x] - want).abs() < 1e-12);
            }
        }
    }
    let x = random(&[1, 2, 3, 4, 5], 14);
    for mode in [Upsample::Nearest, Upsample::Trilinear] {
        let errs = relative_errors(
            |t| upsample3d(&t[0], [5, 8, 7], mode),
            std::slice::from_ref(&x),
            60,
            1e-6,
            2,
        )
        .unwrap();
        assert!(errs[0] < 1e-4, "{mode:?}: {errs:?}");
    }
}

#[test]
fn instance_norm_standardises_and_differentiates() {
    let x = random(&[2, 3, 4, 5, 6], 15).affine(3.0, 1.5).unwrap();
    let y = values(&instance_norm(&x, None, None, 1e-5).unwrap());
    for plane in y.chunks(120) {
        let mean = plane.iter().sum::<f64>() / 120.0;
        let var = plane.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 120.0;
        assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-4, "{mean} {var}");
    }
    let (g, b) = (random(&[3], 16), random(&[3], 17));
    let errs = relative_errors(
        |t| instance_norm(&t[0], Some(&t[1]), Some(&t[2]), 1e-5),
        &[x, g, b],
        60,
        1e-6,
        3,
    )
    .unwrap();
    assert!(errs.iter().all(|&e| e < 1e-4), "{errs:?}");
}

#[test]
fn fused_norm_activation_equals_the_composed_ops() {
    // The fused op against instance_norm + candle's leaky_relu: 1e-12 forward; its hand-written
    // backward against finite differences (1e-4), for a slope and for the identity (slope 1).
    let x = random(&[2, 3, 3, 4, 5], 18).affine(2.0, 0.5).unwrap();
    let (g, b) = (random(&[3], 19), random(&[3], 20));
    let fused = instance_norm_act(&x, &g, &b, 1e-5, 0.01).unwrap();
    let composed =
        candle_nn::ops::leaky_relu(&instance_norm(&x, Some(&g), Some(&b), 1e-5).unwrap(), 0.01)
            .unwrap();
    assert!(max_abs_diff(&fused, &composed) < 1e-12);
    for slope in [0.01, 1.0] {
        let errs = relative_errors(
            |t| instance_norm_act(&t[0], &t[1], &t[2], 1e-5, slope),
            &[x.clone(), g.clone(), b.clone()],
            60,
            1e-6,
            4,
        )
        .unwrap();
        assert!(errs.iter().all(|&e| e < 1e-4), "slope {slope}: {errs:?}");
    }
}

#[test]
fn fused_bias_prelu_equals_the_composed_ops() {
    // Against candle's broadcast add + relu + scaled minimum: 1e-12 forward; the hand-written
    // backward (input, biases and slope) against finite differences (1e-4). Inputs are shifted
    // away from the kink at 0, where finite differences straddle two slopes.
    let x = random(&[2, 3, 2, 4, 5], 21);
    let x = (x.sign().unwrap() * 0.05 + x).unwrap();
    let (b, a) = (Tensor::zeros(3, DType::F64, &Device::Cpu).unwrap(), random(&[1], 23));
    let fused = bias_prelu(&x, &b, &a).unwrap();
    let composed =
        (x.relu().unwrap() + x.minimum(0.0).unwrap().broadcast_mul(&a).unwrap()).unwrap();
    assert!(max_abs_diff(&fused, &composed) < 1e-12);
    let b = random(&[3], 22).affine(0.01, 0.0).unwrap();
    let errs = relative_errors(
        |t| bias_prelu(&t[0], &t[1], &t[2]),
        &[x.clone(), b.clone(), a.clone()],
        60,
        1e-6,
        5,
    )
    .unwrap();
    assert!(errs.iter().all(|&e| e < 1e-4), "{errs:?}");
    assert!(bias_prelu(&x, &random(&[2], 1), &a).is_err());
}

/// Largest difference relative to the largest magnitude of `reference`.
#[cfg(feature = "cuda")]
fn relative(a: &Tensor, reference: &Tensor) -> f64 {
    let scale = values(reference).iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
    max_abs_diff(a, reference) / scale
}

#[cfg(feature = "cuda")]
#[test]
fn emulated_gpu_convolution_kernels_match_the_cpu() {
    // hounsfield-cuda's conv3d kernels, run on the CPU by its emulator behind the same host code
    // as on a GPU: output, data and weight gradients in f32 against the f64 CPU op and its
    // autograd, relative error < 1e-4, on every configuration.
    use hounsfield_cuda::Emulated;
    use hounsfield_cuda::conv::{ConvShape, backward_data, backward_weight, forward};
    let emu = Emulated::new(1 << 30);
    let f32s = |t: &Tensor| -> Vec<f32> {
        t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap()
    };
    for (i, (xd, wd, cfg)) in configs().into_iter().enumerate() {
        let (x, w) = (random(&xd, 1 + i as u64), random(&wd, 100 + i as u64));
        let (xv, wv) = (
            candle_core::Var::from_tensor(&x).unwrap(),
            candle_core::Var::from_tensor(&w).unwrap(),
        );
        let y = conv3d(&xv, &wv, cfg).unwrap();
        let dy = random(y.dims(), 7);
        let grads = (&y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
        let yd = y.dims();
        let shape = ConvShape {
            batch: xd[0],
            in_channels: xd[1],
            out_channels: wd[0],
            groups: cfg.groups,
            input: [xd[2], xd[3], xd[4]],
            output: [yd[2], yd[3], yd[4]],
            kernel: [wd[2], wd[3], wd[4]],
            stride: cfg.stride,
            padding: cfg.padding,
            dilation: cfg.dilation,
        };
        let as_tensor =
            |v: Vec<f32>, like: &Tensor| Tensor::from_vec(v, like.dims(), &Device::Cpu).unwrap();
        let gy = as_tensor(forward(&emu, &shape, &f32s(&x), &f32s(&w)).unwrap(), &y);
        let gdx = as_tensor(backward_data(&emu, &shape, &f32s(&dy), &f32s(&w)).unwrap(), &x);
        let gdw = as_tensor(backward_weight(&emu, &shape, &f32s(&x), &f32s(&dy)).unwrap(), &w);
        let dx = grads.get(&xv).unwrap();
        let dw = grads.get(&wv).unwrap();
        for (name, got, want) in [("output", &gy, &y), ("dx", &gdx, dx), ("dw", &gdw, dw)] {
            let e = relative(got, want);
            assert!(e < 1e-4, "config {i}: {name} relative error {e:e}");
        }
    }
}

#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA GPU (scripts/gpu-tests.sh)"]
fn on_a_gpu_conv3d_and_its_gradients_match_the_cpu() {
    // With the `cuda` feature, f32 convolutions run on the GPU; f64 ones stay on the CPU. The
    // GPU's output and both gradients against the f64 CPU results: relative error < 1e-4 (the
    // issue's bar), on every configuration; a second run gives identical numbers.
    if let Err(e) = hounsfield_cuda::Gpu::shared() {
        panic!("this test needs a GPU: {e}");
    }
    for (i, (xd, wd, cfg)) in configs().into_iter().enumerate() {
        let (x, w) = (random(&xd, 1 + i as u64), random(&wd, 100 + i as u64));
        let run = |x: &Tensor, w: &Tensor| {
            let var = |t: &Tensor| candle_core::Var::from_tensor(t).unwrap();
            let (xv, wv) = (var(x), var(w));
            let y = conv3d(&xv, &wv, cfg).unwrap();
            let dy = random(y.dims(), 7).to_dtype(x.dtype()).unwrap();
            let grads = (&y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
            (y.clone(), grads.get(&xv).unwrap().clone(), grads.get(&wv).unwrap().clone())
        };
        let f32 = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
        let (y, dx, dw) = run(&x, &w);
        let (gy, gdx, gdw) = run(&f32(&x), &f32(&w));
        for (name, got, want) in [("output", &gy, &y), ("dx", &gdx, &dx), ("dw", &gdw, &dw)] {
            let e = relative(got, want);
            assert!(e < 1e-4, "config {i}: {name} relative error {e:e}");
        }
        let (again, _, dw_again) = run(&f32(&x), &f32(&w));
        assert_eq!(values(&again), values(&gy), "config {i}: output differs between runs");
        assert_eq!(values(&dw_again), values(&gdw), "config {i}: dw differs between runs");
    }
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let x = random(&[1, 3, 4, 4, 4], 1);
    assert!(conv3d(&x, &random(&[2, 2, 3, 3, 3], 2), Conv3dConfig::default()).is_err());
    assert!(conv3d(&x, &random(&[2, 3, 5, 3, 3], 2), Conv3dConfig::default()).is_err());
    assert!(
        conv3d(&x, &random(&[2, 3, 3, 3, 3], 2), Conv3dConfig::default().with_stride([0, 1, 1]))
            .is_err()
    );
    assert!(
        conv3d(&x, &random(&[2, 1, 3, 3, 3], 2), Conv3dConfig::default().with_groups(2)).is_err()
    );
    assert!(
        conv3d(&random(&[3, 4, 4], 1), &random(&[2, 3, 3, 3, 3], 2), Conv3dConfig::default())
            .is_err()
    );
    assert!(max_pool3d(&x, [5, 1, 1], [1; 3], [0; 3]).is_err());
    assert!(avg_pool3d(&x, [2; 3], [0; 3], [0; 3]).is_err());
    assert!(upsample3d(&x, [0, 2, 2], Upsample::Nearest).is_err());
    let ints = Tensor::zeros((1, 1, 2, 2, 2), DType::U8, &Device::Cpu).unwrap();
    assert!(max_pool3d(&ints, [2; 3], [2; 3], [0; 3]).is_err());
}
