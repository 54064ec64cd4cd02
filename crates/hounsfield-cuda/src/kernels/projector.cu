// Joseph's ray-driven projector and its matched adjoint, the GPU twin of
// hounsfield-ct's projector.rs: the same rays (per-view frames), the same plane ranges and
// interpolation weights. Geometry runs in double precision as on the CPU.
//
// Views: 16 doubles each: kind (0 flat parallel, 1 flat diverging, 2 arc), then
//   flat: source[3], ray[3], centre[3], u[3], v[3]
//   arc:  source[3], central[3], across[3], gamma0, dgamma, (unused)[4]
// Grid: n[3] (x, y, z), dims (2 or 3), first voxel centre[3], spacing[3].
// The adjoint accumulates in 64-bit fixed point (integer atomics add associatively), so its
// result does not depend on the order the threads run in.

struct Grid {
    int n[3];
    int dims;
    double first[3];
    double spacing[3];
};

struct Ray {
    double q0[3];
    double e[3];
    double t_min;
};

__device__ Ray index_ray(const double* view, int rows, int cols, int row, int col, const Grid& g) {
    double origin[3], dir[3], t_min;
    const double kind = view[0];
    const double* p = view + 1;
    double dc = col - (cols - 1.0) / 2.0;
    if (kind < 1.5) {
        double dr = row - (rows - 1.0) / 2.0;
        double pixel[3];
        for (int a = 0; a < 3; ++a) pixel[a] = p[6 + a] + dc * p[9 + a] + dr * p[12 + a];
        if (kind < 0.5) {
            for (int a = 0; a < 3; ++a) { origin[a] = pixel[a]; dir[a] = p[3 + a]; }
            t_min = __longlong_as_double(0xfff0000000000000ULL);  // -inf
        } else {
            double d[3], len = 0.0;
            for (int a = 0; a < 3; ++a) { d[a] = pixel[a] - p[a]; len += d[a] * d[a]; }
            len = sqrt(len);
            for (int a = 0; a < 3; ++a) { origin[a] = p[a]; dir[a] = d[a] * (1.0 / len); }
            t_min = 0.0;
        }
    } else {
        double sg, cg;
        sincos(p[9] + dc * p[10], &sg, &cg);
        for (int a = 0; a < 3; ++a) { origin[a] = p[a]; dir[a] = p[3 + a] * cg + sg * p[6 + a]; }
        t_min = 0.0;
    }
    Ray r;
    for (int a = 0; a < 3; ++a) {
        r.q0[a] = (origin[a] - g.first[a]) / g.spacing[a];
        r.e[a] = dir[a] / g.spacing[a];
    }
    r.t_min = t_min;
    return r;
}

// Primary-axis planes [lo, hi] whose samples lie on the ray and touch the grid (plane_range).
__device__ void plane_range(int n_p, double q0p, double ep, double t_min, int count,
                            const double* a, const double* b, const int* n, long long* lo_out,
                            long long* hi_out) {
    double lo = 0.0, hi = n_p - 1.0;
    if (isfinite(t_min)) {
        double edge = q0p + t_min * ep;
        if (ep > 0.0) lo = fmax(lo, ceil(edge)); else hi = fmin(hi, floor(edge));
    }
    for (int k = 0; k < count; ++k) {
        if (b[k] == 0.0) {
            if (!(a[k] > -1.0 && a[k] < (double)n[k])) { *lo_out = 0; *hi_out = -1; return; }
        } else {
            double u = (-1.0 - a[k]) / b[k], v = ((double)n[k] - a[k]) / b[k];
            if (u > v) { double t = u; u = v; v = t; }
            lo = fmax(lo, floor(u));
            hi = fmin(hi, ceil(v));
        }
    }
    if (lo > hi || isnan(lo) || isnan(hi)) { *lo_out = 0; *hi_out = -1; return; }
    *lo_out = (long long)lo;
    *hi_out = (long long)hi;
}

// Linear interpolation between cells j and j + 1 at s; false when s misses the axis.
__device__ bool lerp(double s, int n, int* j0, double* w0, int* j1, double* w1) {
    double j = floor(s);
    if (!(j >= -1.0 && j < (double)n)) return false;
    double f = s - j;
    long long jj = (long long)j, last = n - 1;
    *w0 = jj >= 0 ? 1.0 - f : 0.0;
    *w1 = jj < last ? f : 0.0;
    *j0 = (int)min(max(jj, 0LL), last);
    *j1 = (int)min(max(jj + 1, 0LL), last);
    return true;
}

// Calls visit(flat voxel index, weight) for every voxel the ray touches.
template <class Visit>
__device__ void walk(const Ray& r, const Grid& g, Visit& visit) {
    if (g.dims == 2) {
        int p = fabs(r.e[0]) >= fabs(r.e[1]) ? 0 : 1, s = 1 - p;
        if (r.e[p] == 0.0) return;
        double step = 1.0 / fabs(r.e[p]);
        long long stride[2] = {1, g.n[0]};
        double b = r.e[s] / r.e[p];
        double a = r.q0[s] - r.q0[p] * b;
        long long lo, hi;
        int ns = g.n[s];
        plane_range(g.n[p], r.q0[p], r.e[p], r.t_min, 1, &a, &b, &ns, &lo, &hi);
        for (long long i = lo; i <= hi; ++i) {
            int j0, j1; double w0, w1;
            if (!lerp(a + b * (double)i, ns, &j0, &w0, &j1, &w1)) continue;
            long long base = i * stride[p];
            visit(base + j0 * stride[s], w0 * step);
            visit(base + j1 * stride[s], w1 * step);
        }
    } else {
        // The last of equal maxima, as Rust's max_by on the CPU picks.
        int p = 0;
        for (int k = 1; k < 3; ++k) if (fabs(r.e[k]) >= fabs(r.e[p])) p = k;
        if (r.e[p] == 0.0) return;
        double step = 1.0 / fabs(r.e[p]);
        int s1 = (p + 1) % 3, s2 = (p + 2) % 3;
        long long stride[3] = {1, g.n[0], (long long)g.n[0] * g.n[1]};
        double b[2] = {r.e[s1] / r.e[p], r.e[s2] / r.e[p]};
        double a[2] = {r.q0[s1] - r.q0[p] * b[0], r.q0[s2] - r.q0[p] * b[1]};
        int ns[2] = {g.n[s1], g.n[s2]};
        long long lo, hi;
        plane_range(g.n[p], r.q0[p], r.e[p], r.t_min, 2, a, b, ns, &lo, &hi);
        for (long long i = lo; i <= hi; ++i) {
            int u0, u1, v0, v1; double wu0, wu1, wv0, wv1;
            if (!lerp(a[0] + b[0] * (double)i, ns[0], &u0, &wu0, &u1, &wu1)) continue;
            if (!lerp(a[1] + b[1] * (double)i, ns[1], &v0, &wv0, &v1, &wv1)) continue;
            long long base = i * stride[p];
            visit(base + u0 * stride[s1] + v0 * stride[s2], wu0 * wv0 * step);
            visit(base + u0 * stride[s1] + v1 * stride[s2], wu0 * wv1 * step);
            visit(base + u1 * stride[s1] + v0 * stride[s2], wu1 * wv0 * step);
            visit(base + u1 * stride[s1] + v1 * stride[s2], wu1 * wv1 * step);
        }
    }
}

__device__ Grid load_grid(const int* gi, const double* gd) {
    Grid g;
    for (int a = 0; a < 3; ++a) { g.n[a] = gi[a]; g.first[a] = gd[a]; g.spacing[a] = gd[3 + a]; }
    g.dims = gi[3];
    return g;
}

struct Gather {
    const float* image;
    double sum;
    __device__ void operator()(long long i, double w) { sum += w * (double)image[i]; }
};

// y[view, row, col] (+)= sum over the ray of weight * image (accumulate != 0: add, for slabs).
extern "C" __global__ void project_forward(const double* views, int n_views, int rows, int cols,
                                           const int* grid_i, const double* grid_d,
                                           const float* image, int accumulate, float* out) {
    long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long per_view = (long long)rows * cols;
    if (k >= per_view * n_views) return;
    int v = (int)(k / per_view);
    int pixel = (int)(k % per_view);
    Grid g = load_grid(grid_i, grid_d);
    Ray r = index_ray(views + 16 * v, rows, cols, pixel / cols, pixel % cols, g);
    Gather gather{image, 0.0};
    walk(r, g, gather);
    out[k] = accumulate ? out[k] + (float)gather.sum : (float)gather.sum;
}

struct Scatter {
    unsigned long long* acc;
    double value;
    __device__ void operator()(long long i, double w) {
        long long q = llrint(w * value);
        atomicAdd(acc + i, (unsigned long long)q);
    }
};

// acc[voxel] += round(scale * weight * y) over every ray through it (two's complement sums).
extern "C" __global__ void project_adjoint(const double* views, int n_views, int rows, int cols,
                                           const int* grid_i, const double* grid_d,
                                           const float* y, double scale,
                                           unsigned long long* acc) {
    long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long per_view = (long long)rows * cols;
    if (k >= per_view * n_views) return;
    float value = y[k];
    if (value == 0.0f) return;
    int v = (int)(k / per_view);
    int pixel = (int)(k % per_view);
    Grid g = load_grid(grid_i, grid_d);
    Ray r = index_ray(views + 16 * v, rows, cols, pixel / cols, pixel % cols, g);
    Scatter scatter{acc, scale * (double)value};
    walk(r, g, scatter);
}

// out[i] = acc[i] / scale, as float.
extern "C" __global__ void fixed_to_float(const unsigned long long* acc, long long n,
                                          double scale, float* out) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    out[i] = (float)((double)(long long)acc[i] / scale);
}
