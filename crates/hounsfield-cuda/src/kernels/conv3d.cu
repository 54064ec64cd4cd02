// Direct 3D convolution for (N, C, D, H, W) float tensors, the GPU twin of hounsfield-nn's
// im2col + GEMM convolution: forward, data gradient (a gather over the output positions that
// see each input sample, any stride/dilation/padding/groups) and weight gradient (partial sums
// over fixed chunks of positions, then a reduction in chunk order, so results repeat exactly).
//
// Shape parameters, 22 ints: batch, in_channels, out_channels, groups, input[3] (D, H, W),
// output[3], kernel[3], stride[3], padding[3], dilation[3].

struct Shape {
    int batch, cin, cout, groups;
    int in[3], out[3], k[3], stride[3], pad[3], dil[3];
};

__device__ Shape load_shape(const int* p) {
    Shape s;
    s.batch = p[0]; s.cin = p[1]; s.cout = p[2]; s.groups = p[3];
    for (int a = 0; a < 3; ++a) {
        s.in[a] = p[4 + a]; s.out[a] = p[7 + a]; s.k[a] = p[10 + a];
        s.stride[a] = p[13 + a]; s.pad[a] = p[16 + a]; s.dil[a] = p[19 + a];
    }
    return s;
}

// y[n, o, z, y, x] = sum over the group's channels and taps of w * x (zero padding).
extern "C" __global__ void conv3d_forward(const int* params, const float* x, const float* w,
                                          float* y) {
    Shape s = load_shape(params);
    long long out_plane = (long long)s.out[0] * s.out[1] * s.out[2];
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)s.batch * s.cout * out_plane) return;
    long long pos = idx % out_plane;
    int o = (int)((idx / out_plane) % s.cout), n = (int)(idx / (out_plane * s.cout));
    int oz = (int)(pos / ((long long)s.out[1] * s.out[2])), oy = (int)((pos / s.out[2]) % s.out[1]),
        ox = (int)(pos % s.out[2]);
    int cg = s.cin / s.groups, og = s.cout / s.groups, g = o / og;
    long long in_plane = (long long)s.in[0] * s.in[1] * s.in[2];
    int taps = s.k[0] * s.k[1] * s.k[2];
    float acc = 0.0f;
    for (int c = 0; c < cg; ++c) {
        const float* xc = x + ((long long)n * s.cin + g * cg + c) * in_plane;
        const float* wc = w + ((long long)o * cg + c) * taps;
        for (int kz = 0; kz < s.k[0]; ++kz) {
            int iz = oz * s.stride[0] + kz * s.dil[0] - s.pad[0];
            if (iz < 0 || iz >= s.in[0]) continue;
            for (int ky = 0; ky < s.k[1]; ++ky) {
                int iy = oy * s.stride[1] + ky * s.dil[1] - s.pad[1];
                if (iy < 0 || iy >= s.in[1]) continue;
                for (int kx = 0; kx < s.k[2]; ++kx) {
                    int ix = ox * s.stride[2] + kx * s.dil[2] - s.pad[2];
                    if (ix < 0 || ix >= s.in[2]) continue;
                    acc += wc[(kz * s.k[1] + ky) * s.k[2] + kx] *
                           xc[((long long)iz * s.in[1] + iy) * s.in[2] + ix];
                }
            }
        }
    }
    y[idx] = acc;
}

// Output index along an axis that tap k reads input i from, or -1.
__device__ int source_output(int i, int k, int a, const Shape& s) {
    int t = i + s.pad[a] - k * s.dil[a];
    if (t < 0 || t % s.stride[a] != 0) return -1;
    t /= s.stride[a];
    return t < s.out[a] ? t : -1;
}

// dx[n, c, z, y, x] = sum over outputs o of the group and taps that read this sample of w * dy.
extern "C" __global__ void conv3d_backward_data(const int* params, const float* dy,
                                                const float* w, float* dx) {
    Shape s = load_shape(params);
    long long in_plane = (long long)s.in[0] * s.in[1] * s.in[2];
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)s.batch * s.cin * in_plane) return;
    long long pos = idx % in_plane;
    int ci = (int)((idx / in_plane) % s.cin), n = (int)(idx / (in_plane * s.cin));
    int iz = (int)(pos / ((long long)s.in[1] * s.in[2])), iy = (int)((pos / s.in[2]) % s.in[1]),
        ix = (int)(pos % s.in[2]);
    int cg = s.cin / s.groups, og = s.cout / s.groups, g = ci / cg, c = ci % cg;
    long long out_plane = (long long)s.out[0] * s.out[1] * s.out[2];
    int taps = s.k[0] * s.k[1] * s.k[2];
    float acc = 0.0f;
    for (int kz = 0; kz < s.k[0]; ++kz) {
        int oz = source_output(iz, kz, 0, s);
        if (oz < 0) continue;
        for (int ky = 0; ky < s.k[1]; ++ky) {
            int oy = source_output(iy, ky, 1, s);
            if (oy < 0) continue;
            for (int kx = 0; kx < s.k[2]; ++kx) {
                int ox = source_output(ix, kx, 2, s);
                if (ox < 0) continue;
                long long at = ((long long)oz * s.out[1] + oy) * s.out[2] + ox;
                int tap = (kz * s.k[1] + ky) * s.k[2] + kx;
                for (int o = g * og; o < (g + 1) * og; ++o) {
                    acc += w[((long long)o * cg + c) * taps + tap] *
                           dy[((long long)n * s.cout + o) * out_plane + at];
                }
            }
        }
    }
    dx[idx] = acc;
}

// partial[chunk, weight] = sum over the chunk's (sample, output position) pairs of dy * x.
extern "C" __global__ void conv3d_backward_weight_partial(const int* params, const float* x,
                                                          const float* dy, int chunks,
                                                          float* partial) {
    Shape s = load_shape(params);
    int cg = s.cin / s.groups, og = s.cout / s.groups;
    int taps = s.k[0] * s.k[1] * s.k[2];
    long long n_weights = (long long)s.cout * cg * taps;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n_weights * chunks) return;
    // Consecutive threads take consecutive weights of one chunk (neighbouring reads).
    long long wi = idx % n_weights;
    int chunk = (int)(idx / n_weights);
    int tap = (int)(wi % taps), c = (int)((wi / taps) % cg), o = (int)(wi / ((long long)taps * cg));
    int g = o / og;
    int kz = tap / (s.k[1] * s.k[2]), ky = (tap / s.k[2]) % s.k[1], kx = tap % s.k[2];
    long long out_plane = (long long)s.out[0] * s.out[1] * s.out[2];
    long long in_plane = (long long)s.in[0] * s.in[1] * s.in[2];
    long long total = (long long)s.batch * out_plane;
    long long per = (total + chunks - 1) / chunks;
    long long start = chunk * per, end = min(total, start + per);
    float acc = 0.0f;
    for (long long t = start; t < end; ++t) {
        int n = (int)(t / out_plane);
        long long pos = t % out_plane;
        int oz = (int)(pos / ((long long)s.out[1] * s.out[2])),
            oy = (int)((pos / s.out[2]) % s.out[1]), ox = (int)(pos % s.out[2]);
        int iz = oz * s.stride[0] + kz * s.dil[0] - s.pad[0];
        int iy = oy * s.stride[1] + ky * s.dil[1] - s.pad[1];
        int ix = ox * s.stride[2] + kx * s.dil[2] - s.pad[2];
        if (iz < 0 || iz >= s.in[0] || iy < 0 || iy >= s.in[1] || ix < 0 || ix >= s.in[2]) continue;
        acc += dy[((long long)n * s.cout + o) * out_plane + pos] *
               x[((long long)n * s.cin + g * cg + c) * in_plane +
                 ((long long)iz * s.in[1] + iy) * s.in[2] + ix];
    }
    partial[idx] = acc;
}

// out[i] = sum over chunks of partial[chunk, i], in chunk order.
extern "C" __global__ void sum_chunks(const float* partial, long long n, int chunks, float* out) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float acc = 0.0f;
    for (int k = 0; k < chunks; ++k) acc += partial[k * n + i];
    out[i] = acc;
}
