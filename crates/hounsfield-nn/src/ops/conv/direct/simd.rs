//! The register-tile kernels, written once (the `kernels!` macro) and compiled twice: for AVX2
//! with FMA (8 lanes, 16 vector registers) and for AVX-512F (16 lanes, 32 registers, and on
//! cores with two 512-bit FMA units twice the arithmetic per cycle). Each instruction set's
//! module supplies the same handful of vector primitives under the same names.
#![allow(unsafe_code)] // SIMD intrinsics on raw pointers; bounds are argued by the callers.

/// Strides of one register tile's inputs and outputs.
pub(super) struct Tile {
    /// Between input channels of the padded copy.
    pub cstride: usize,
    /// Between padded rows.
    pub row: usize,
    pub channels: usize,
    /// Between output channels.
    pub ostride: usize,
}

/// A band of rows of the output gradient against the shifted input rows of one tap row.
pub(super) struct Band {
    pub rows: usize,
    pub width: usize,
    /// Between output channels of `dy`.
    pub ostride: usize,
    /// Between padded input rows.
    pub row: usize,
}

/// Most output channels a weight-gradient band handles at once (of any instruction set).
pub(super) const MAX_BAND_CHANNELS: usize = 6;

/// Per-band weight-gradient sums: `[channel][kx]`.
pub(super) type Sums = [[f32; 3]; MAX_BAND_CHANNELS];

macro_rules! kernels {
    ($features:literal, $lanes:literal, [$($ob:literal),*], [$($gb:literal),*]) => {
        use super::{Band, Sums, Tile};

        /// Lanes of one vector.
        pub(in super::super) const LANES: usize = $lanes;

        /// One output row of `ob` channels: whole tiles of `pv` vectors, then the rest (the last
        /// vector stored under a mask).
        ///
        /// # Safety
        /// `src` is the top-left padded input of the row's taps (every channel `t.cstride`
        /// apart, 3 rows of `round_up(width, LANES) + 2` readable values), `dst` the row of the
        /// first output channel (`ob` rows of `width` writable values, `t.ostride` apart),
        /// `weights` the block's `t.channels * 9 * ob` packed weights, `bias` `ob` values.
        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = $features)]
        pub(in super::super) unsafe fn row(
            t: &Tile,
            pv: usize,
            ob: usize,
            src: *const f32,
            weights: *const f32,
            bias: &[f32],
            dst: *mut f32,
            width: usize,
        ) {
            let mut x0 = 0;
            while x0 < width {
                let left = width - x0;
                let vectors = left.div_ceil(LANES).min(pv);
                let last = (left - (vectors - 1) * LANES).min(LANES);
                // SAFETY: columns x0..x0 + LANES * vectors of the padded rows (inside the
                // row's padding) and the `left` columns of the output row that remain.
                unsafe {
                    let (s, d) = (src.add(x0), dst.add(x0));
                    match (ob, vectors) {
                        $(
                            ($ob, 1) => tile::<$ob, 1>(t, s, weights, bias, d, last),
                            ($ob, 2) => tile::<$ob, 2>(t, s, weights, bias, d, last),
                        )*
                        _ => unreachable!("direct conv: tile of {ob} x {vectors}"),
                    }
                }
                x0 += vectors * LANES;
            }
        }

        /// `OB` channels x `PV` vectors of outputs: the bias plus the sum over input channels
        /// and the nine taps; `last` (1..=LANES) lanes of the last vector are stored.
        ///
        /// # Safety
        /// As [`row`], for the tile's `PV` vectors.
        #[inline]
        #[target_feature(enable = $features)]
        unsafe fn tile<const OB: usize, const PV: usize>(
            t: &Tile,
            src: *const f32,
            weights: *const f32,
            bias: &[f32],
            dst: *mut f32,
            last: usize,
        ) {
            let mut acc = [[zero(); PV]; OB];
            for (a, &b) in acc.iter_mut().zip(bias) {
                *a = [splat(b); PV];
            }
            for ci in 0..t.channels {
                // SAFETY: within the bounds stated for `row`.
                unsafe {
                    let xc = src.add(ci * t.cstride);
                    let wc = weights.add(ci * 9 * OB);
                    for ky in 0..3 {
                        let xr = xc.add(ky * t.row);
                        for kx in 0..3 {
                            let mut v = [zero(); PV];
                            for (p, vp) in v.iter_mut().enumerate() {
                                *vp = load(xr.add(kx + LANES * p));
                            }
                            let wt = wc.add((ky * 3 + kx) * OB);
                            for (j, accj) in acc.iter_mut().enumerate() {
                                let b = splat(*wt.add(j));
                                for (a, &vp) in accj.iter_mut().zip(&v) {
                                    *a = fmadd(b, vp, *a);
                                }
                            }
                        }
                    }
                }
            }
            for (j, accj) in acc.iter().enumerate() {
                for (p, &a) in accj.iter().enumerate() {
                    // SAFETY: within the bounds stated for `row`; the last vector is masked.
                    unsafe {
                        let at = dst.add(j * t.ostride + p * LANES);
                        if p + 1 < PV || last == LANES {
                            store(at, a);
                        } else {
                            store_first(at, a, last);
                        }
                    }
                }
            }
        }

        /// `sums[j][kx] = sum over the band of dy[j](y, x) * xp(y, x + kx)` for `ob` channels.
        ///
        /// # Safety
        /// `dy` reads `ob` channels (`b.ostride` apart) of `b.rows x b.width` values; `xp`
        /// reads `b.rows` padded rows (`b.row` apart) of `round_up(b.width, LANES) + 2` values.
        #[target_feature(enable = $features)]
        pub(in super::super) unsafe fn band_sums(
            b: &Band,
            ob: usize,
            dy: *const f32,
            xp: *const f32,
        ) -> Sums {
            let mut out = [[0.0f32; 3]; super::MAX_BAND_CHANNELS];
            // SAFETY: as stated.
            unsafe {
                match ob {
                    $($gb => band::<$gb>(b, dy, xp, &mut out),)*
                    _ => unreachable!("direct conv: band of {ob} channels"),
                }
            }
            out
        }

        /// [`band_sums`] for `OB` channels: `3 OB` accumulators, `OB` gradient vectors and one
        /// input vector live in registers.
        ///
        /// # Safety
        /// As [`band_sums`].
        #[inline]
        #[target_feature(enable = $features)]
        unsafe fn band<const OB: usize>(b: &Band, dy: *const f32, xp: *const f32, out: &mut Sums) {
            let mut acc = [[zero(); 3]; OB];
            let whole = b.width / LANES * LANES;
            let tail = b.width - whole;
            for r in 0..b.rows {
                // SAFETY: columns x0..x0 + LANES of row r: inside the row for whole vectors,
                // past it only through the mask (dy) or inside the padding (xp).
                unsafe {
                    let (g_row, x_row) = (dy.add(r * b.width), xp.add(r * b.row));
                    let mut x0 = 0;
                    while x0 <= b.width {
                        let mut g = [zero(); OB];
                        if x0 < whole {
                            for (j, gj) in g.iter_mut().enumerate() {
                                *gj = load(g_row.add(j * b.ostride + x0));
                            }
                        } else if tail > 0 {
                            for (j, gj) in g.iter_mut().enumerate() {
                                *gj = load_first(g_row.add(j * b.ostride + x0), tail);
                            }
                        } else {
                            break;
                        }
                        for kx in 0..3 {
                            let v = load(x_row.add(x0 + kx));
                            for (a, &gj) in acc.iter_mut().zip(&g) {
                                a[kx] = fmadd(gj, v, a[kx]);
                            }
                        }
                        x0 += LANES;
                    }
                }
            }
            for (o, a) in out.iter_mut().zip(&acc) {
                for (v, &s) in o.iter_mut().zip(a) {
                    *v = sum(s);
                }
            }
        }
    };
}

/// AVX2 with FMA: 8 lanes; tiles of up to 6 channels x 2 vectors, bands of up to 3 channels
/// (at most 13-15 of the 16 registers live).
pub(super) mod avx2 {
    use std::arch::x86_64::{
        __m256, __m256i, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_movehdup_ps, _mm_movehl_ps,
        _mm256_castps256_ps128, _mm256_cmpgt_epi32, _mm256_extractf128_ps, _mm256_fmadd_ps,
        _mm256_loadu_ps, _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_set1_epi32,
        _mm256_set1_ps, _mm256_setr_epi32, _mm256_setzero_ps, _mm256_storeu_ps,
    };

    type V = __m256;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn zero() -> V {
        _mm256_setzero_ps()
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn splat(v: f32) -> V {
        _mm256_set1_ps(v)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn fmadd(a: V, b: V, c: V) -> V {
        _mm256_fmadd_ps(a, b, c)
    }

    /// # Safety
    /// Eight readable values at `p`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load(p: *const f32) -> V {
        // SAFETY: as stated.
        unsafe { _mm256_loadu_ps(p) }
    }

    /// # Safety
    /// Eight writable values at `p`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store(p: *mut f32, v: V) {
        // SAFETY: as stated.
        unsafe { _mm256_storeu_ps(p, v) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn mask(n: usize) -> __m256i {
        let n = i32::try_from(n).unwrap_or(8);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }

    /// # Safety
    /// `n` writable values at `p`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store_first(p: *mut f32, v: V, n: usize) {
        // SAFETY: as stated; masked lanes are not touched.
        unsafe { _mm256_maskstore_ps(p, mask(n), v) }
    }

    /// # Safety
    /// `n` readable values at `p`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load_first(p: *const f32, n: usize) -> V {
        // SAFETY: as stated; masked lanes are not read (and are zero).
        unsafe { _mm256_maskload_ps(p, mask(n)) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sum(v: V) -> f32 {
        let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
        _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)))
    }

    kernels!("avx2,fma", 8, [1, 2, 3, 4, 5, 6], [1, 2, 3]);
}

/// AVX-512F: 16 lanes; tiles of up to 8 channels x 2 vectors, bands of up to 6 channels (at
/// most 19-25 of the 32 registers live).
pub(super) mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
        _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
    };

    type V = __m512;

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn zero() -> V {
        _mm512_setzero_ps()
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn splat(v: f32) -> V {
        _mm512_set1_ps(v)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fmadd(a: V, b: V, c: V) -> V {
        _mm512_fmadd_ps(a, b, c)
    }

    /// # Safety
    /// Sixteen readable values at `p`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const f32) -> V {
        // SAFETY: as stated.
        unsafe { _mm512_loadu_ps(p) }
    }

    /// # Safety
    /// Sixteen writable values at `p`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store(p: *mut f32, v: V) {
        // SAFETY: as stated.
        unsafe { _mm512_storeu_ps(p, v) }
    }

    fn mask(n: usize) -> u16 {
        u16::try_from((1u32 << n.min(16)) - 1).unwrap_or(u16::MAX)
    }

    /// # Safety
    /// `n` writable values at `p`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_first(p: *mut f32, v: V, n: usize) {
        // SAFETY: as stated; masked lanes are not touched.
        unsafe { _mm512_mask_storeu_ps(p, mask(n), v) }
    }

    /// # Safety
    /// `n` readable values at `p`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_first(p: *const f32, n: usize) -> V {
        // SAFETY: as stated; masked lanes are not read (and are zero).
        unsafe { _mm512_maskz_loadu_ps(mask(n), p) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sum(v: V) -> f32 {
        _mm512_reduce_add_ps(v)
    }

    kernels!("avx512f", 16, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6]);
}
