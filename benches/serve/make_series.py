"""Writes a NIfTI volume as a DICOM MR series (one file per axial slice) with its geometry, so
the receiver and the page can be tried on a whole head: the Colin27 T1 of ../shared/data/mricron.

    python benches/serve/make_series.py [IN.nii.gz] OUT_DIR

The voxels are reordered to DICOM's patient frame (LPS): rows run posterior, columns left,
slices superior; ImagePositionPatient is each slice's first voxel centre from the NIfTI affine.
Only axis-aligned volumes are accepted (an oblique affine is refused rather than rounded).
"""

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

ROOT = Path(__file__).resolve().parents[2]


def main(src: Path, out: Path) -> None:
    img = nib.load(src)
    # To LPS: flip the NIfTI (RAS) axes that point right and anterior.
    ornt = nib.orientations.io_orientation(img.affine)
    lps = nib.orientations.axcodes2ornt(("L", "P", "S"))
    transform = nib.orientations.ornt_transform(ornt, lps)
    data = np.asarray(nib.orientations.apply_orientation(np.asanyarray(img.dataobj), transform))
    affine = img.affine @ nib.orientations.inv_ornt_aff(transform, img.shape[:3])
    lps_affine = np.diag([-1, -1, 1, 1]) @ affine  # RAS mm to LPS mm
    axes = lps_affine[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    directions = axes / spacing
    if not np.allclose(directions, np.eye(3), atol=1e-6):
        raise SystemExit(f"{src}: not axis-aligned after reorienting, refused")
    values = np.round(data).astype(np.uint16)
    out.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    nx, ny, nz = values.shape
    for k in range(nz):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID = "Colin27^T1", "ch2"
        ds.StudyDate, ds.StudyDescription = "20260101", "Colin27 T1 (from ch2.nii.gz)"
        ds.Modality, ds.SeriesNumber, ds.SeriesDescription = "MR", 1, "T1 axial 1 mm"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [float(v) for v in lps_affine[:3, :3] @ [0, 0, k] + lps_affine[:3, 3]]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]
        ds.SliceThickness = float(spacing[2])
        ds.Rows, ds.Columns = ny, nx
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        # Rows are y (posterior), columns x (left): the slice transposed to row-major.
        ds.PixelData = np.ascontiguousarray(values[:, :, k].T).tobytes()
        ds.save_as(out / f"slice{k:04d}.dcm", enforce_file_format=True)
    print(f"{nz} slices of {nx}x{ny} at {spacing.round(3).tolist()} mm written to {out}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 1:
        args = [str(ROOT.parent / "shared/data/mricron/ch2.nii.gz")] + args
    main(Path(args[0]), Path(args[1]))
