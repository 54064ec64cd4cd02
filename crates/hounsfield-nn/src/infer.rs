//! Sliding-window inference (MONAI's `sliding_window_inference`): overlapping windows, each
//! prediction weighted by a Gaussian importance map (sigma = 1/8 of the window, as MONAI and
//! nnU-Net), padding where the volume is smaller than a window, windows run in batches, optional
//! flip test-time augmentation.

use candle_core::{DType, Device, Module, Tensor};
use hounsfield_core::Volume;

use crate::unet::UNet;
use crate::{Error, Result};

/// How to tile and blend.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InferOptions {
    /// Window size (z, y, x); for a 2D network `[1, h, w]`.
    pub window: [usize; 3],
    /// Fraction of a window shared with its neighbour, in [0, 1).
    pub overlap: f64,
    /// Windows per network call.
    pub batch: usize,
    /// Average the predictions of the input mirrored along each axis in `tta_axes`.
    pub flip_tta: bool,
    /// The axes (z, y, x) test-time augmentation mirrors: those the model was trained to see
    /// mirrored (a network that never saw a head upside down should not be asked to segment
    /// one). Axes a 2D window does not span are skipped.
    pub tta_axes: [bool; 3],
}

impl InferOptions {
    /// Half-overlapping windows of `window`, 2 per batch, no test-time augmentation.
    pub fn new(window: [usize; 3]) -> Self {
        Self { window, overlap: 0.5, batch: 2, flip_tta: false, tta_axes: [true; 3] }
    }
}

/// Start positions of windows of `win` covering `len` with the given overlap (last one flush).
fn starts(len: usize, win: usize, overlap: f64) -> Vec<usize> {
    if len <= win {
        return vec![0];
    }
    let step = ((win as f64 * (1.0 - overlap)).floor() as usize).max(1);
    let count = (len - win).div_ceil(step) + 1;
    (0..count).map(|i| if i + 1 == count { len - win } else { i * step }).collect()
}

/// The Gaussian importance map of a window, normalised to a peak of 1 and floored at 1e-3 of it
/// so border voxels still count where only one window reaches.
fn importance(win: [usize; 3]) -> Vec<f32> {
    let axis = |n: usize| -> Vec<f64> {
        let (c, s) = ((n as f64 - 1.0) / 2.0, (n as f64 / 8.0).max(1e-6));
        (0..n).map(|i| (-0.5 * ((i as f64 - c) / s).powi(2)).exp()).collect()
    };
    let (a, b, c) = (axis(win[0]), axis(win[1]), axis(win[2]));
    let mut out = Vec::with_capacity(win.iter().product());
    for z in &a {
        for y in &b {
            for x in &c {
                out.push((z * y * x).max(1e-3) as f32);
            }
        }
    }
    out
}

/// Class probabilities `(classes, nz, ny, nx)` in C order for a normalised `image`.
pub fn sliding_window(net: &UNet, image: &Volume<f32>, opts: &InferOptions) -> Result<Vec<f32>> {
    let cfg = net.config();
    let multiple = cfg.size_multiple();
    let win = opts.window;
    if (0..3).any(|a| win[a] == 0 || !win[a].is_multiple_of(multiple[a]))
        || !(0.0..1.0).contains(&opts.overlap)
        || opts.batch == 0
    {
        return Err(Error::Config(format!(
            "window {win:?} must be positive multiples of {multiple:?}, overlap in [0, 1), batch > 0"
        )));
    }
    if cfg.in_channels != 1 {
        return Err(Error::Config("sliding_window takes single-channel images".into()));
    }
    let shape = image.shape();
    // Pad up to a window with the image's smallest value (background), then crop back.
    let padded = [shape[0].max(win[0]), shape[1].max(win[1]), shape[2].max(win[2])];
    let fill = image.as_slice().iter().copied().fold(f32::INFINITY, f32::min);
    let src = image.as_slice();
    let at = |z: usize, y: usize, x: usize| {
        if z < shape[0] && y < shape[1] && x < shape[2] {
            src[(z * shape[1] + y) * shape[2] + x]
        } else {
            fill
        }
    };
    let positions: Vec<[usize; 3]> = starts(padded[0], win[0], opts.overlap)
        .into_iter()
        .flat_map(|z| {
            starts(padded[1], win[1], opts.overlap).into_iter().flat_map(move |y| {
                starts(padded[2], win[2], opts.overlap).into_iter().map(move |x| [z, y, x])
            })
        })
        .collect();
    let classes = cfg.out_channels;
    let wlen = win.iter().product::<usize>();
    let plane = padded.iter().product::<usize>();
    let weight = importance(win);
    let mut acc = vec![0f32; classes * plane];
    let mut norm = vec![0f32; plane];
    for chunk in positions.chunks(opts.batch) {
        let mut batch = Vec::with_capacity(chunk.len() * wlen);
        for p in chunk {
            for z in 0..win[0] {
                for y in 0..win[1] {
                    for x in 0..win[2] {
                        batch.push(at(p[0] + z, p[1] + y, p[2] + x));
                    }
                }
            }
        }
        let input =
            Tensor::from_vec(batch, (chunk.len(), 1, win[0], win[1], win[2]), &Device::Cpu)?;
        let probs = predict_window(net, &input, opts, cfg.spatial_dims)?;
        let probs: Vec<f32> = probs.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        for (b, p) in chunk.iter().enumerate() {
            for (i, &w) in weight.iter().enumerate() {
                let (z, y, x) = (i / (win[1] * win[2]), i / win[2] % win[1], i % win[2]);
                let v = ((p[0] + z) * padded[1] + p[1] + y) * padded[2] + p[2] + x;
                norm[v] += w;
                for c in 0..classes {
                    acc[c * plane + v] += w * probs[(b * classes + c) * wlen + i];
                }
            }
        }
    }
    let mut out = Vec::with_capacity(classes * shape.iter().product::<usize>());
    for c in 0..classes {
        for z in 0..shape[0] {
            for y in 0..shape[1] {
                for x in 0..shape[2] {
                    let v = (z * padded[1] + y) * padded[2] + x;
                    out.push(acc[c * plane + v] / norm[v]);
                }
            }
        }
    }
    Ok(out)
}

/// Softmax probabilities of a batch, averaged over mirrored copies when `flip_tta` is set.
fn predict_window(
    net: &UNet,
    input: &Tensor,
    opts: &InferOptions,
    spatial_dims: usize,
) -> Result<Tensor> {
    let dtype = net_dtype(net)?;
    let input = input.to_dtype(dtype)?;
    let probs = candle_nn::ops::softmax(&net.forward(&input)?.detach(), 1)?;
    if !opts.flip_tta {
        return Ok(probs);
    }
    // Tensor axes 2, 3, 4 are z, y, x; a 2D window spans only y and x.
    let first = if spatial_dims == 2 { 1 } else { 0 };
    let axes: Vec<usize> = (first..3).filter(|&a| opts.tta_axes[a]).map(|a| a + 2).collect();
    let mut sum = probs;
    for &axis in &axes {
        let flipped = flip(&input, axis)?;
        let p = candle_nn::ops::softmax(&net.forward(&flipped)?.detach(), 1)?;
        sum = (sum + flip(&p, axis)?)?;
    }
    Ok((sum / (axes.len() + 1) as f64)?)
}

fn net_dtype(net: &UNet) -> Result<DType> {
    Ok(net.dtype())
}

fn flip(t: &Tensor, axis: usize) -> Result<Tensor> {
    let n = t.dim(axis)?;
    let idx = Tensor::from_vec((0..n as u32).rev().collect::<Vec<u32>>(), n, &Device::Cpu)?;
    Ok(t.index_select(&idx, axis)?)
}

/// The most probable class per voxel of `(classes, nz, ny, nx)` probabilities.
pub fn argmax(
    probs: &[f32],
    classes: usize,
    shape: [usize; 3],
    geometry: hounsfield_core::Geometry,
) -> Result<Volume<u8>> {
    let n = shape.iter().product::<usize>();
    if probs.len() != classes * n || classes == 0 || classes > 256 {
        return Err(Error::Config(format!(
            "{} probabilities for {classes} classes of {shape:?}",
            probs.len()
        )));
    }
    let labels = (0..n)
        .map(|v| {
            let mut best = (0usize, f32::NEG_INFINITY);
            for c in 0..classes {
                if probs[c * n + v] > best.1 {
                    best = (c, probs[c * n + v]);
                }
            }
            best.0 as u8
        })
        .collect();
    Ok(Volume::from_vec(shape, labels, geometry)?)
}
