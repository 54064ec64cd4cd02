"""Writes a synthetic 4D MR series (fMRI-like) into the folder given: 3 slice positions x 4 time
points, 6 x 5 pixels, an oblique orientation, TemporalPositionIdentifier 1-4, InstanceNumbers
time-major (as scanners number them) but file names shuffled, so file order says nothing. Pixel value =
1000 * time + 100 * slice + row * 5 + column, so every voxel tells where and when it is.

Usage: python make_4d.py OUT_DIR
"""

import pathlib
import sys

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
row = np.array([1.0, 0.0, 0.0])
col = np.array([0.0, np.cos(0.3), np.sin(0.3)])
normal = np.cross(row, col)
series, study = generate_uid(entropy_srcs=["4d series"]), generate_uid(entropy_srcs=["4d study"])
order = [7, 2, 11, 4, 0, 9, 5, 1, 10, 3, 8, 6]  # file names, a fixed shuffle
for i, (t, z) in enumerate((t, z) for t in range(4) for z in range(3)):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["4d", str(t), str(z)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", 5, i + 1
    ds.TemporalPositionIdentifier, ds.NumberOfTemporalPositions = t + 1, 4
    ds.ImageType = ["ORIGINAL", "PRIMARY", "FMRI"]
    ds.ImagePositionPatient = list(np.array([-10.0, 20.0, 30.0]) + 3.0 * z * normal)
    ds.ImageOrientationPatient = list(row) + list(col)
    ds.PixelSpacing = [2.0, 1.5]
    ds.SliceThickness = 3.0
    ds.EchoTime, ds.RepetitionTime = 30, 2000
    ds.Rows, ds.Columns = 5, 6
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    r, c = np.mgrid[0:5, 0:6]
    ds.PixelData = (1000 * (t + 1) + 100 * z + r * 5 + c).astype(np.uint16).tobytes()
    ds.save_as(out / f"img{order[i]:02d}.dcm", enforce_file_format=True)
