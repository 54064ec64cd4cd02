"""Runs every peer timing script with one thread, printing one JSON line per benchmark."""

import os
import pathlib
import subprocess
import sys

here = pathlib.Path(__file__).parent
env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
for script in sorted(here.glob("*_*.py")):
    if script.name == "make_inputs.py":
        continue
    subprocess.run([sys.executable, str(script)], check=True, env=env, cwd=here)
