"""Times scipy.ndimage and SimpleITK on the filter benchmark inputs (benches/benches/filter.rs),
one thread: the 256^3 f32 pattern of inputs.ssim_pair, 1 mm voxels.

- Gaussian sigma 2: scipy gaussian_filter (truncate 4, reflect: the same FIR kernel as ours);
  SimpleITK SmoothingRecursiveGaussian (IIR) and DiscreteGaussian (FIR, variance 4).
- Median over 3^3 (radius 1): scipy median_filter(size=3), SimpleITK Median(radius 1).
- Connected components of the voxels above 0.25: scipy label (6-connectivity), SimpleITK
  ConnectedComponent (face connectivity).
- Linear resampling of the same voxels as 1 x 1 x 2.5 mm onto 1 mm (256 x 256 x 640, the
  outer faces kept: origin z moved by -0.75 mm): SimpleITK ResampleImageFilter, sitkLinear, and
  cubic B-spline: SimpleITK sitkBSpline, scipy zoom(order=3, grid_mode=True), the same grid.
Median of 3 runs.
"""

import json

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from inputs import median_time, ssim_pair

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
a = ssim_pair(256)[0]
image = sitk.GetImageFromArray(a)
mask = (a > 0.25).astype(np.uint8)
mask_image = sitk.GetImageFromArray(mask)
print(json.dumps({"label input components": int(ndimage.label(mask)[1])}))

thick = sitk.GetImageFromArray(a)
thick.SetSpacing((1.0, 1.0, 2.5))


def resample_sitk(interpolator=sitk.sitkLinear):
    f = sitk.ResampleImageFilter()
    f.SetSize((256, 256, 640))
    f.SetOutputSpacing((1.0, 1.0, 1.0))
    f.SetOutputOrigin((0.0, 0.0, -0.75))
    f.SetInterpolator(interpolator)
    return f.Execute(thick)


runs = {
    "gaussian sigma 2 256^3": {
        "scipy gaussian_filter": lambda: ndimage.gaussian_filter(a, 2.0, truncate=4.0, mode="reflect"),
        "SimpleITK SmoothingRecursiveGaussian": lambda: sitk.SmoothingRecursiveGaussian(image, 2.0),
        "SimpleITK DiscreteGaussian": lambda: sitk.DiscreteGaussian(image, 4.0, 32, 0.01, False),
    },
    "median r=1 256^3": {
        "scipy median_filter": lambda: ndimage.median_filter(a, size=3),
        "SimpleITK Median": lambda: sitk.Median(image, [1, 1, 1]),
    },
    "resample linear 256^3 (1,1,2.5) to 1 mm": {
        "SimpleITK ResampleImageFilter linear": resample_sitk,
    },
    "resample B-spline 256^3 (1,1,2.5) to 1 mm": {
        "SimpleITK ResampleImageFilter sitkBSpline (order 3)": lambda: resample_sitk(sitk.sitkBSpline),
        "scipy zoom order 3 (prefilter, mirror)": lambda: ndimage.zoom(a, (2.5, 1, 1), order=3, mode="mirror", grid_mode=True),
    },
    "label 6-connectivity 256^3": {
        "scipy label": lambda: ndimage.label(mask),
        "SimpleITK ConnectedComponent": lambda: sitk.ConnectedComponent(mask_image, False),
    },
}
for bench, tools in runs.items():
    for tool, fn in tools.items():
        print(json.dumps({"bench": bench, "tool": tool, "median_s": median_time(fn, runs=3)}))
