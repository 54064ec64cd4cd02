"""Writes the large benchmark inputs into target/bench-data (once; skips what exists).

The volume: a CT-like int16 300 x 512 x 512 stack (air, body ellipse, bone ring, noise), 150 MiB
of voxels, written as
- niigz/ct_300x512x512.nii.gz: gzipped at level 6 as dcm2niix (pigz -6) writes it;
- nii/ct_300x512x512.nii: the same, uncompressed (separate folders because SimpleITK's
  nifti1_io, asked for X.nii.gz, silently reads an X.nii lying beside it);
- dicom-native/: 300 CT files, explicit VR little endian, one slice each;
- dicom-rle/: the same 300 slices, RLE Lossless (encoded by pylibjpeg-rle).
"""

import gzip
import pathlib
import shutil
import sys

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, RLELossless, generate_uid

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../../target/bench-data")
out.mkdir(parents=True, exist_ok=True)
SLICES, SIZE = 300, 512


def ct_slices():
    """The volume as (z, y, x) int16, the same values every run."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[-256:256, -256:256].astype(np.float32)
    r = (x / 200) ** 2 + (y / 160) ** 2
    base = np.where(r < 1, 40.0, -1000.0).astype(np.float32)
    base[(r > 0.8) & (r < 0.9)] = 900.0
    vol = np.empty((SLICES, SIZE, SIZE), dtype=np.int16)
    for z in range(SLICES):
        vol[z] = (base * (1 + 0.1 * np.sin(z / 30)) + rng.normal(0, 20, base.shape)).astype(np.int16)
    return vol


def write_nifti(vol):
    nii = out / "nii" / "ct_300x512x512.nii"
    niigz = out / "niigz" / "ct_300x512x512.nii.gz"
    nii.parent.mkdir(exist_ok=True)
    niigz.parent.mkdir(exist_ok=True)
    if not nii.exists():
        aff = np.diag([0.7, 0.7, 1.0, 1.0])
        nib.save(nib.Nifti1Image(np.ascontiguousarray(vol.transpose(2, 1, 0)), aff, dtype=np.int16), str(nii))
    if not niigz.exists():
        with open(nii, "rb") as src, gzip.open(niigz, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return [nii, niigz]


def write_dicom(vol, folder, syntax):
    folder = out / folder
    if folder.exists() and len(list(folder.glob("*.dcm"))) == SLICES:
        return folder
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    study, series = generate_uid(entropy_srcs=["bench study"]), generate_uid(entropy_srcs=["bench " + folder.name])
    for z in range(SLICES):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[folder.name, str(z)])
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, z + 1
        ds.PatientName, ds.PatientID = "Bench^Phantom", "BENCH"
        ds.ImagePositionPatient = [-179.2, -179.2, float(z)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 1.0
        ds.Rows = ds.Columns = SIZE
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = vol[z].tobytes()
        if syntax == RLELossless:
            ds.compress(RLELossless, vol[z], encoding_plugin="pylibjpeg")
        ds.save_as(tmp / f"{z:04d}.dcm", enforce_file_format=True)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


vol = ct_slices()
for p in write_nifti(vol):
    print(p, p.stat().st_size)
for folder, syntax in (("dicom-native", ExplicitVRLittleEndian), ("dicom-rle", RLELossless)):
    d = write_dicom(vol, folder, syntax)
    print(d, sum(f.stat().st_size for f in d.glob("*.dcm")))
