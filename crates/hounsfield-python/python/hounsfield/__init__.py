"""Medical 3D imaging with a Rust core.

Volumes are numpy arrays in ``(z, y, x)`` order (x fastest, as SimpleITK's
``GetArrayFromImage`` gives them) with their geometry: ``spacing`` and ``origin`` as
``(x, y, z)`` in mm and a ``direction`` matrix whose column k is index axis k, in DICOM's
patient frame (LPS). ``Volume.ras_affine`` is the 4x4 matrix nibabel calls ``affine``.

Every computation releases the GIL. Errors from the libraries are ``HounsfieldError`` (a
``ValueError``) with a message that names the file or parameter and the problem.

>>> import numpy as np, hounsfield as hf
>>> v = hf.Volume(np.zeros((8, 8, 8), np.float32), spacing=(0.5, 0.5, 2.0))
>>> hf.filters.gaussian(v, 1.0).array.shape
(8, 8, 8)
"""

from ._native import HounsfieldError
from .volume import Volume, read, write
from . import ct, filters, mesh, metrics

__all__ = ["HounsfieldError", "Volume", "read", "write", "ct", "filters", "mesh", "metrics"]
