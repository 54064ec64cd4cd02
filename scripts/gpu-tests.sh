#!/usr/bin/env bash
# Builds the GPU test and benchmark binaries here (no GPU or CUDA toolkit needed: kernels are
# compiled at run time by NVRTC) and gathers them in target/gpu/, small enough to carry to the
# GPU machine. Then, on that machine (it has the CUDA driver and toolkit, no Rust):
#
#   export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
#   target/gpu/run.sh            # every GPU test (the #[ignore]d ones included), then the benches
#
# With the `device` tool: run this script, then `run` with carry ["target/gpu"] and the command
# `bash target/gpu/run.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/gpu
rm -rf "$out"
mkdir -p "$out"

# Test binaries: cargo prints each executable's path in its JSON messages.
build() {
  cargo "$@" --release --features hounsfield-ct/cuda,hounsfield-nn/cuda --message-format=json \
    | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["target"]["name"] + " " + m["executable"])
'
}
{
  build test --no-run -p hounsfield-cuda -p hounsfield-ct -p hounsfield-nn --test compile --test gpu --test ops
  build build -p hounsfield-ct -p hounsfield-nn --example gpu_bench --example conv_bench
} | while read -r name path; do
  cp "$path" "$out/$name"
  strip "$out/$name" 2>/dev/null || true
done

cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the GPU checks of issue 9 on a machine with a CUDA GPU (see scripts/gpu-tests.sh).
set -uo pipefail
dir="$(dirname "$0")"
export LD_LIBRARY_PATH="${CUDA_HOME:-/usr/local/cuda}/lib64:${LD_LIBRARY_PATH:-}"
export HOUNSFIELD_REQUIRE_NVRTC=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
status=0
for t in compile gpu ops; do
  echo "== $t"
  "$dir/$t" --include-ignored --test-threads=1 || status=1
done
echo "== benchmarks"
"$dir/gpu_bench" "${GPU_BENCH_SIZE:-512}" || status=1
"$dir/conv_bench" || status=1
HOUNSFIELD_DEVICE=cpu "$dir/conv_bench" || status=1
exit $status
RUN
chmod +x "$out/run.sh"
ls -la "$out"
du -sh "$out"
