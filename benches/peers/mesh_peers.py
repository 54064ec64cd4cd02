"""Mesh peers on the issue's problems: 256^3 f32, a sphere of radius 100 voxels (distance field)
and a gyroid with 4 periods, both at level 0.

1. Times vtkFlyingEdges3D (sequential SMP backend) and scikit-image's marching_cubes (Lewiner)
   on the arrays, and counts what they leave: zero-area triangles and duplicate vertices.
2. Runs `hounsfield mesh` on the same fields (NIfTI), then loads the STL and PLY it wrote in
   trimesh and VTK: watertightness, boundary and non-manifold edges, area and volume, which must
   agree with what `hounsfield mesh` reported.

Prints one JSON line per measurement. Run from this folder:
    ../../target/peers/bin/python mesh_peers.py
"""

import json
import os
import subprocess

import nibabel
import numpy as np
import trimesh
import vtk
from skimage.measure import marching_cubes
from vtk.util import numpy_support

from inputs import best_time, hounsfield_binary, work_dir

work = work_dir("mesh")
binary = hounsfield_binary()
vtk.vtkSMPTools.SetBackend("Sequential")

n = 256
i = np.arange(n, dtype=np.float64)
z, y, x = np.meshgrid(i, i, i, indexing="ij")
k = 2 * np.pi / 64
fields = {
    "sphere": (100 - np.sqrt((x - 127.5) ** 2 + (y - 127.5) ** 2 + (z - 127.5) ** 2)).astype(np.float32),
    "gyroid": (np.sin(k * x) * np.cos(k * y) + np.sin(k * y) * np.cos(k * z) + np.sin(k * z) * np.cos(k * x)).astype(np.float32),
}
del x, y, z


def defects(points, triangles):
    a, b, c = (points[triangles[:, j]] for j in range(3))
    area2 = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    unique = np.unique(points, axis=0).shape[0]
    return int(np.sum(area2 == 0)), int(points.shape[0] - unique)


best = best_time


def flying_edges(arr):
    image = vtk.vtkImageData()
    image.SetDimensions(n, n, n)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(arr.ravel(), deep=True))
    fe = vtk.vtkFlyingEdges3D()
    fe.SetInputData(image)
    fe.SetValue(0, 0.0)
    fe.ComputeNormalsOff()
    fe.ComputeGradientsOff()
    fe.ComputeScalarsOff()
    fe.Update()
    return fe.GetOutput()


def vtk_counts(poly):
    points = numpy_support.vtk_to_numpy(poly.GetPoints().GetData())
    cells = numpy_support.vtk_to_numpy(poly.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    return points, cells


def hausdorff(a, b):
    """Two-sided Hausdorff distance between the surfaces of polydata a and b: the largest distance
    from a vertex of either to the other surface (vtkDistancePolyDataFilter, unsigned)."""
    worst = 0.0
    for x, y in [(a, b), (b, a)]:
        f = vtk.vtkDistancePolyDataFilter()
        f.SetInputData(0, x)
        f.SetInputData(1, y)
        f.SignedDistanceOff()
        f.ComputeSecondDistanceOff()
        f.Update()
        d = numpy_support.vtk_to_numpy(f.GetOutput().GetPointData().GetScalars())
        worst = max(worst, float(np.abs(d).max()))
    return worst


def vtk_check(reader):
    reader.Update()
    edges = vtk.vtkFeatureEdges()
    edges.SetInputConnection(reader.GetOutputPort())
    edges.BoundaryEdgesOn()
    edges.NonManifoldEdgesOff()
    edges.FeatureEdgesOff()
    edges.ManifoldEdgesOff()
    edges.Update()
    boundary = edges.GetOutput().GetNumberOfCells()
    edges.BoundaryEdgesOff()
    edges.NonManifoldEdgesOn()
    edges.Update()
    non_manifold = edges.GetOutput().GetNumberOfCells()
    mass = vtk.vtkMassProperties()
    mass.SetInputConnection(reader.GetOutputPort())
    mass.Update()
    return boundary, non_manifold, mass.GetSurfaceArea(), mass.GetVolume()


for name, arr in fields.items():
    poly, seconds = best(lambda: flying_edges(arr))
    pts, tris = vtk_counts(poly)
    zero, dup = defects(pts, tris)
    print(json.dumps({"field": name, "tool": "vtkFlyingEdges3D " + vtk.vtkVersion.GetVTKVersion(),
                      "seconds": round(seconds, 3), "triangles": int(tris.shape[0]),
                      "zero_area_triangles": zero, "duplicate_vertices": dup}))
    (verts, faces, _, _), seconds = best(lambda: marching_cubes(arr, 0.0), repeat=1)
    zero, dup = defects(verts, faces)
    print(json.dumps({"field": name, "tool": "scikit-image marching_cubes", "seconds": round(seconds, 3),
                      "triangles": int(faces.shape[0]), "zero_area_triangles": zero, "duplicate_vertices": dup}))

    nii = work / f"{name}.nii"
    nibabel.save(nibabel.Nifti1Image(np.ascontiguousarray(arr.transpose(2, 1, 0)), np.eye(4)), nii)
    for ext in ["stl", "ply"]:
        out = work / f"{name}.{ext}"
        env = dict(os.environ, RAYON_NUM_THREADS="1")
        report = json.loads(subprocess.run([str(binary), "mesh", str(nii), str(out), "--level", "0", "--json"],
                                           check=True, capture_output=True, env=env).stdout)
        tm = trimesh.load(out, process=ext == "stl")
        reader = vtk.vtkSTLReader() if ext == "stl" else vtk.vtkPLYReader()
        reader.SetFileName(str(out))
        boundary, non_manifold, area, volume = vtk_check(reader)
        if name == "sphere" and ext == "stl":
            reader.Update()
            decimation = vtk.vtkQuadricDecimation()
            decimation.SetInputConnection(reader.GetOutputPort())
            decimation.SetTargetReduction(0.9)
            _, seconds = best(decimation.Update, repeat=1)
            print(json.dumps({"field": name, "tool": "vtkQuadricDecimation to 10%", "seconds": round(seconds, 3),
                              "triangles": decimation.GetOutput().GetNumberOfPolys()}))
            # Ours to the same fraction (`mesh --decimate 0.1`, criterion times the call itself), and
            # both scored by VTK against the original: the two-sided Hausdorff distance between
            # vertex sets and surfaces (vtkDistancePolyDataFilter, both directions), in voxels.
            ours = work / f"{name}_decimated.stl"
            subprocess.run([str(binary), "mesh", str(nii), str(ours), "--level", "0", "--decimate", "0.1"],
                           check=True, capture_output=True, env=env)
            ours_reader = vtk.vtkSTLReader()
            ours_reader.SetFileName(str(ours))
            ours_reader.Update()
            for tool, decimated in [("vtkQuadricDecimation", decimation.GetOutput()),
                                    ("hounsfield", ours_reader.GetOutput())]:
                print(json.dumps({"field": name, "tool": tool, "decimated_triangles": decimated.GetNumberOfPolys(),
                                  "hausdorff_to_original": round(hausdorff(decimated, reader.GetOutput()), 4)}))
        print(json.dumps({
            "field": name, "file": out.name, "hounsfield_seconds": round(report["seconds"], 3),
            "triangles": report["triangles"], "hounsfield_watertight": report["watertight"],
            "trimesh_watertight": bool(tm.is_watertight),
            "trimesh_area_relative_difference": abs(tm.area - report["area"]) / report["area"],
            "vtk_boundary_edges": boundary, "vtk_non_manifold_edges": non_manifold,
            "vtk_area_relative_difference": abs(area - report["area"]) / report["area"],
            "vtk_volume": round(volume, 1), "hounsfield_volume": round(report["volume"], 1),
            "sphere_area_error": (report["area"] / (4 * np.pi * 100**2) - 1) if name == "sphere" else None,
        }))
