// Voxel-driven back-projection for FBP and FDK, the GPU twin of hounsfield-ct's
// backproject.rs: every voxel centre is mapped onto each view's detector, the filtered
// projection is interpolated there (zero outside the panel) and weighted.
//
// Maps: 13 doubles per view: kind (0 projective, 1 arc), then
//   projective: a[3], a0, b[3], b0, d[3], d0  (col = (a.x + a0) / (d.x + d0), row likewise with
//               b; FDK distance weight (d0 / (d.x + d0))^2 when d != 0)
//   arc:        source[3], central[3], across[3], gamma0, dgamma, centre_col
// Grid: n[3] (x, y, z), first voxel centre[3], spacing[3].

// Linear interpolation of a row of n samples at c, zero outside (partial at the ends).
__device__ double sample_1d(const float* row, int n, double c) {
    double j = floor(c);
    double f = c - j;
    long long k = (long long)j;
    if (k >= 0 && k + 1 < n) return (double)row[k] + f * ((double)row[k + 1] - (double)row[k]);
    if (k == -1) return (double)row[0] * f;
    if (k == n - 1) return (double)row[n - 1] * (1.0 - f);
    return 0.0;
}

extern "C" __global__ void backproject(const double* maps, const double* weights, int n_views,
                                       int rows, int cols, const float* q, const int* grid_i,
                                       const double* grid_d, float* out) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long nx = grid_i[0], ny = grid_i[1], nz = grid_i[2];
    if (idx >= nx * ny * nz) return;
    long long ix = idx % nx, iy = (idx / nx) % ny, iz = idx / (nx * ny);
    double x[3] = {grid_d[0] + ix * grid_d[3], grid_d[1] + iy * grid_d[4],
                   grid_d[2] + iz * grid_d[5]};
    double acc = 0.0;
    for (int v = 0; v < n_views; ++v) {
        const double* m = maps + 13 * v;
        const float* view = q + (long long)v * rows * cols;
        double w = weights[v];
        if (m[0] < 0.5) {
            const double *a = m + 1, *b = m + 5, *d = m + 9;
            double den = d[0] * x[0] + d[1] * x[1] + d[2] * x[2] + m[12];
            bool diverging = d[0] != 0.0 || d[1] != 0.0 || d[2] != 0.0;
            if (diverging && den * m[12] <= 0.0) continue;  // behind the source
            double inv = 1.0 / den;
            double c = (a[0] * x[0] + a[1] * x[1] + a[2] * x[2] + m[4]) * inv;
            double value;
            if (rows == 1) {
                value = sample_1d(view, cols, c);
            } else {
                double r = (b[0] * x[0] + b[1] * x[1] + b[2] * x[2] + m[8]) * inv;
                double j = floor(r), f = r - j;
                long long jr = (long long)j;
                double lower = (jr >= 0 && jr < rows) ? sample_1d(view + jr * cols, cols, c) : 0.0;
                double upper = (jr + 1 >= 0 && jr + 1 < rows)
                                   ? sample_1d(view + (jr + 1) * cols, cols, c)
                                   : 0.0;
                value = lower + f * (upper - lower);
            }
            double distance = diverging ? (m[12] * inv) * (m[12] * inv) : 1.0;
            acc += w * distance * value;
        } else {
            const double *s = m + 1, *central = m + 4, *across = m + 7;
            double rel[2] = {x[0] - s[0], x[1] - s[1]};
            double along = rel[0] * central[0] + rel[1] * central[1];
            double side = rel[0] * across[0] + rel[1] * across[1];
            if (along <= 0.0) continue;
            double gamma = atan2(side, along);
            double c = (gamma - m[10]) / m[11] + m[12];
            acc += w / (along * along + side * side) * sample_1d(view, cols, c);
        }
    }
    out[idx] = (float)acc;
}
