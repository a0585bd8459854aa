#!/usr/bin/env bash
# The runner on a CUDA machine, end to end: synthetic demo cohorts -> `brainbench run --device cuda`
# (cnn3d-small and resnet3d, AMP on CUDA) -> evaluate; then the standalone throughput check.
# Usage: OUT=/some/dir PRESET=demo DEVICE=cuda bash benchmarks/gpu/runner_on_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/brainbench-gpu}
PRESET=${PRESET:-demo}
DEVICE=${DEVICE:-cuda}
EPOCHS=${EPOCHS:-10}
mkdir -p "$OUT"
WORK=$(mktemp -d)
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/src" PYTHONUNBUFFERED=1
python3 - "$WORK/data" "$PRESET" <<'PY'
import sys, time
from pathlib import Path
from brainbench.runner._demo import cohort_configs, relabel_subjects
from brainbench.synth import generate_cohort
data, preset = Path(sys.argv[1]), sys.argv[2]
for name, cfg in cohort_configs(preset, 2).items():
    t = time.perf_counter()
    res = generate_cohort(data / name, cfg)
    if name == "ext":
        relabel_subjects(res.path, "X")
    print(f"{name}: {res.n_subjects} subjects, {res.n_images} images ({time.perf_counter() - t:.1f} s)")
PY
export BRAINBENCH_DEMO_DATA="$WORK/data"
start=$(date +%s)
python3 -m brainbench run spec/demo/ad-vs-cn-synthetic.yaml --model cnn3d-small --model resnet3d \
  --seeds 2 --device "$DEVICE" --max-epochs "$EPOCHS" --out "$WORK/run" --quiet \
  2>&1 | tee "$OUT/run.log"
echo "run wall seconds: $(( $(date +%s) - start ))" | tee -a "$OUT/run.log"
cp "$WORK/run/provenance.json" "$OUT/provenance.json"
python3 -m brainbench evaluate "$WORK/run/predictions.parquet" \
  --spec spec/demo/ad-vs-cn-synthetic.yaml --resamples 2000 --format json -o "$OUT/evaluate.json"
python3 -m brainbench evaluate "$WORK/run/predictions.parquet" \
  --spec spec/demo/ad-vs-cn-synthetic.yaml --resamples 2000 | tee "$OUT/evaluate.txt"
if [ "$DEVICE" = cuda ]; then
  python3 benchmarks/runner/gpu_check.py > "$OUT/gpu_check.json"
  cat "$OUT/gpu_check.json"
fi
