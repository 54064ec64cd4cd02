"""ASTRA (CPU) answers for tests/astra_reference.rs: reads a JSON request file, prints JSON.

Request: {"op": "project" | "fbp", "geometry_type", "det_cols", "vectors", "ny", "nx",
"image" (project, row-major ny x nx) or "sinogram" and "angles" (fbp, views x det_cols),
"projector"}.
Our arrays are passed as they are; the vectors come from `ScanGeometry::to_astra`, which
mirrors 2D geometries into ASTRA's y-up frame.
"""

import json
import sys

import astra
import numpy as np

req = json.load(open(sys.argv[1]))
vol = astra.create_vol_geom(req["ny"], req["nx"])
proj = astra.create_proj_geom(req["geometry_type"], req["det_cols"], np.array(req["vectors"]))
pid = astra.create_projector(req["projector"], proj, vol)
if req["op"] == "project":
    image = np.array(req["image"], np.float32).reshape(req["ny"], req["nx"])
    _, sino = astra.create_sino(image, pid)
    print(json.dumps({"sinogram": sino.ravel().tolist()}))
else:
    # ASTRA's CPU FBP needs a `parallel` geometry: the same mirroring as the vectors, i.e. our
    # angle θ is ASTRA's -θ (unit pixels).
    proj = astra.create_proj_geom("parallel", 1.0, req["det_cols"], -np.array(req["angles"]))
    pid = astra.create_projector(req["projector"], proj, vol)
    sino = np.array(req["sinogram"], np.float32).reshape(len(req["vectors"]), req["det_cols"])
    sid = astra.data2d.create("-sino", proj, sino)
    rid = astra.data2d.create("-vol", vol)
    cfg = astra.astra_dict("FBP")
    cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid)
    cfg["option"] = {"FilterType": "Ram-Lak"}
    alg = astra.algorithm.create(cfg)
    astra.algorithm.run(alg)
    print(json.dumps({"image": astra.data2d.get(rid).ravel().tolist()}))
