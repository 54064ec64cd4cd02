"""Receiving load: instances per second stored from 8 concurrent C-STORE senders, by
`hounsfield serve` and by Orthanc (Debian package orthanc), on the same files, on this machine.

    python benches/serve/load.py --hounsfield target/release/hounsfield [--instances 2000]
                                 [--senders 8] [--orthanc /usr/sbin/Orthanc] [--json OUT]

The instances are made here from one shared uncompressed MR file (../shared/data/dicom2nifti/
anatomical/001): copies with new SOP Instance UIDs, split evenly between the senders. Each sender
is one dcmtk storescu process sending its share over one association (so the senders cost little
next to the receivers). Every receiver starts on an empty store; the time is from the start of
the first sender to the end of the last; afterwards the instances stored are counted (hounsfield:
its index; Orthanc: its REST statistics) and must be all of them.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT.parent / "shared/data/dicom2nifti/anatomical/001/IM-0001-0112-0001.dcm"


def make_instances(out: Path, count: int) -> list[Path]:
    """`count` copies of the source file, each its own instance (new SOP Instance UID), in
    series of 100 instances."""
    template = pydicom.dcmread(SOURCE)
    study = generate_uid()
    files = []
    for k in range(count):
        ds = template.copy()
        ds.StudyInstanceUID = study
        if k % 100 == 0:
            series = generate_uid()
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k % 100 + 1
        path = out / f"{k:06d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    start = time.time()
    while time.time() - start < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def send(port: int, called: str, shares: list[list[Path]]) -> float:
    """All senders at once; the wall time until the last one ends. Fails on any sender error."""
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            ["storescu", "-aet", f"LOAD{k}", "-aec", called, "-xe", "127.0.0.1", str(port)] + [str(f) for f in share],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for k, share in enumerate(shares)
    ]
    errors = [(p.wait(), p.stderr.read().decode()) for p in procs]
    seconds = time.perf_counter() - start
    for rc, err in errors:
        if rc != 0 or "E:" in err:
            raise RuntimeError(f"a sender failed ({rc}): {err[-500:]}")
    return seconds


def run_hounsfield(binary: str, shares, work: Path) -> dict:
    store = work / "hounsfield-store"
    port = free_port()
    server = subprocess.Popen(
        [binary, "serve", "--store", str(store), "--dicom-port", str(port), "--no-http"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        seconds = send(port, "HOUNSFIELD", shares)
        stored = sum(1 for line in open(store / "index.jsonl") if line.strip())
    finally:
        server.kill()
        server.wait()
    return {"seconds": seconds, "stored": stored}


def run_orthanc(binary: str, shares, work: Path) -> dict:
    port, http = free_port(), free_port()
    config = {
        "Name": "load", "StorageDirectory": str(work / "orthanc-store"), "IndexDirectory": str(work / "orthanc-index"),
        "DicomAet": "ORTHANC", "DicomPort": port, "HttpPort": http, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomCheckCalledAet": False, "StorageCompression": False,
        # As many DICOM threads as senders, as hounsfield serves each association on its own thread.
        "DicomThreadsCount": len(shares), "Plugins": [], "SaveJobs": False,
    }
    path = work / "orthanc.json"
    path.write_text(json.dumps(config))
    server = subprocess.Popen([binary, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        wait_port(http)
        seconds = send(port, "ORTHANC", shares)
        stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{http}/statistics"))
        stored = stats["CountInstances"]
    finally:
        server.kill()
        server.wait()
    return {"seconds": seconds, "stored": stored}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hounsfield", required=True)
    ap.add_argument("--orthanc", default="/usr/sbin/Orthanc")
    ap.add_argument("--instances", type=int, default=2000)
    ap.add_argument("--senders", type=int, default=8)
    ap.add_argument("--json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "files").mkdir()
        files = make_instances(work / "files", args.instances)
        shares = [files[k :: args.senders] for k in range(args.senders)]
        size = sum(f.stat().st_size for f in files)
        results = {"instances": len(files), "senders": args.senders, "megabytes": size / 1e6}
        for name, run, binary in [("hounsfield", run_hounsfield, args.hounsfield), ("orthanc", run_orthanc, args.orthanc)]:
            r = run(binary, shares, work)
            if r["stored"] != len(files):
                raise SystemExit(f"{name} stored {r['stored']} of {len(files)} instances")
            r["instances_per_second"] = len(files) / r["seconds"]
            results[name] = r
            print(f"{name}: {len(files)} instances ({size / 1e6:.0f} MB) from {args.senders} senders in "
                  f"{r['seconds']:.2f} s = {r['instances_per_second']:.0f} instances/s, all stored", flush=True)
        results["ratio"] = results["hounsfield"]["instances_per_second"] / results["orthanc"]["instances_per_second"]
        print(f"hounsfield / orthanc: {results['ratio']:.2f}")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
