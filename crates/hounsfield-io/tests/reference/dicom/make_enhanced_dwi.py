"""Writes a synthetic Enhanced MR diffusion file as Philips scanners write them: 4 volumes (b = 0,
then b = 1000 along three directions) x 8 oblique slices of 6 x 5 pixels in one file, the 32
frames stored in a fixed shuffled order, each with its PlanePositionSequence, MRDiffusionSequence
(DiffusionBValue, DiffusionDirectionality, DiffusionGradientOrientation) and FrameContentSequence
(StackID, InStackPositionNumber, DimensionIndexValues for the DimensionIndexSequence StackID,
InStackPositionNumber, DiffusionBValue, DiffusionGradientOrientation). Pixel value = 1000 *
(volume + 1) + 100 * slice + 5 * row + column, so every voxel tells where and in which volume
it belongs.

Usage: python make_enhanced_dwi.py OUT_FILE [--no-index] [--isotropic]
  --no-index   leave out DimensionIndexSequence and DimensionIndexValues
  --isotropic  make the last volume an isotropic (trace) image: b = 1000, no direction
"""

import sys

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
out = sys.argv[1]
indexed = "--no-index" not in sys.argv
isotropic = "--isotropic" in sys.argv

row = np.array([1.0, 0.0, 0.0])
col = np.array([0.0, np.cos(0.2), -np.sin(0.2)])
normal = np.cross(row, col)
volumes = [(0.0, None), (1000.0, (1.0, 0.0, 0.0)), (1000.0, (0.0, 0.6, 0.8)), (1000.0, (0.0, -0.8, 0.6))]
if isotropic:
    volumes[3] = (1000.0, "ISOTROPIC")
slices, rows, cols = 8, 5, 6

meta = FileMetaDataset()
meta.MediaStorageSOPClassUID = ENHANCED_MR
meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["enhanced dwi", str(indexed), str(isotropic)])
meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds = Dataset()
ds.file_meta = meta
ds.SOPClassUID, ds.SOPInstanceUID = ENHANCED_MR, meta.MediaStorageSOPInstanceUID
ds.StudyInstanceUID = generate_uid(entropy_srcs=["enhanced dwi study"])
ds.SeriesInstanceUID = generate_uid(entropy_srcs=["enhanced dwi series", str(indexed), str(isotropic)])
ds.Modality, ds.Manufacturer, ds.SeriesNumber, ds.InstanceNumber = "MR", "Philips Medical Systems", 7, 1
ds.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, slices * len(volumes)
ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0

shared = Dataset()
orientation = Dataset()
orientation.ImageOrientationPatient = list(row) + list(col)
shared.PlaneOrientationSequence = Sequence([orientation])
measures = Dataset()
measures.PixelSpacing = [2.0, 1.5]
measures.SliceThickness = 3.0
measures.SpacingBetweenSlices = 3.0
shared.PixelMeasuresSequence = Sequence([measures])
ds.SharedFunctionalGroupsSequence = Sequence([shared])

if indexed:
    pointers = [(0x0020, 0x9056), (0x0020, 0x9057), (0x0018, 0x9087), (0x0018, 0x9089)]
    groups = [(0x0020, 0x9111), (0x0020, 0x9111), (0x0018, 0x9117), (0x0018, 0x9076)]
    index = []
    for p, g in zip(pointers, groups):
        d = Dataset()
        d.DimensionIndexPointer = p
        d.FunctionalGroupPointer = g
        index.append(d)
    ds.DimensionIndexSequence = Sequence(index)

order = list(np.random.RandomState(3).permutation(slices * len(volumes)))
frames, pixels = [], []
for f in order:
    v, z = divmod(int(f), slices)  # frame f is volume v, slice z
    b, direction = volumes[v]
    frame = Dataset()
    position = Dataset()
    position.ImagePositionPatient = list(np.array([-20.0, 10.0, 40.0]) + 3.0 * z * normal)
    frame.PlanePositionSequence = Sequence([position])
    content = Dataset()
    content.StackID = "1"
    content.InStackPositionNumber = z + 1
    if indexed:
        gradient_index = 1 if direction is None else v + 1
        content.DimensionIndexValues = [1, z + 1, 1 if b == 0 else 2, gradient_index]
    frame.FrameContentSequence = Sequence([content])
    diffusion = Dataset()
    diffusion.DiffusionBValue = b
    if direction is None:
        diffusion.DiffusionDirectionality = "NONE"
    elif direction == "ISOTROPIC":
        diffusion.DiffusionDirectionality = "ISOTROPIC"
    else:
        diffusion.DiffusionDirectionality = "DIRECTIONAL"
        gradient = Dataset()
        gradient.DiffusionGradientOrientation = list(direction)
        diffusion.DiffusionGradientDirectionSequence = Sequence([gradient])
    frame.MRDiffusionSequence = Sequence([diffusion])
    frames.append(frame)
    r, c = np.mgrid[0:rows, 0:cols]
    pixels.append((1000 * (v + 1) + 100 * z + 5 * r + c).astype("<u2"))
ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
ds.PixelData = np.stack(pixels).tobytes()
ds.save_as(out, enforce_file_format=True)
