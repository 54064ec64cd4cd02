"""Times scikit-image's 3D SSIM on the criterion bench's 128^3 input (benches/benches/metrics.rs).

Prints the median of 10 runs and the SSIM value, so the Rust side can be checked to compute the
same number. Run single-threaded for a fair ratio: OMP_NUM_THREADS=1.
"""

import json
import statistics
import time

import numpy as np
from skimage.metrics import structural_similarity

from inputs import ssim_pair

a, b = ssim_pair(128)
a64, b64 = a.astype(np.float64), b.astype(np.float64)
times, value = [], None
for _ in range(10):
    t0 = time.perf_counter()
    value = structural_similarity(a64, b64, data_range=4.0, gaussian_weights=True, use_sample_covariance=False)
    times.append(time.perf_counter() - t0)
print(json.dumps({"bench": "ssim_3d_128", "tool": "scikit-image", "median_s": statistics.median(times), "ssim": float(value)}))
