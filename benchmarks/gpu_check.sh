#!/usr/bin/env bash
# The GPU check, prepared for a session that is lent a GPU machine (the `device` tool: 15 minutes of
# device time in all, so ONE call of about 8 minutes, leaving time for one rerun). Nothing here needs the
# project's venv: it runs on the machine's own python3 (PyTorch, pandas, scipy, pytest; no snakemake, no
# mlxtend, no internet), from the repository root, and writes everything to $OUT (default ./gpu-check).
#
# Here, before the call (resolves the paper-scale E1 run with the validated config; the file travels
# with the working tree because it is untracked, not ignored):
#     .venv/bin/python benchmarks/paper_run.py --configfile configs/paper.yaml --width 4096 --save-run gpu-run.json
# The call:  run(command="bash benchmarks/gpu_check.sh", timeout_s=540)
#
#   1. the device and versions (nvidia-smi, torch)
#   2. the CUDA tests: per-seed and batched training on cuda against the CPU, one sync per metrics block
#   3. train_throughput on cuda: the engine's step against torch.mm at the paper-like shape
#   4. batched_seeds on cuda, n = 2000, widths 512 and 1024 (issue 11's GPU target: batched >= 5x), 1000 steps
#   5. the paper-scale E1 run of gpu-run.json (width 4096, n = 2000 synthetic) trained 1000 steps and probed
#      on cuda, with the projected time of its 5000 steps and the peak device memory
# Each step has its own time limit, so one that hangs leaves the others their time; the summary is last.
set -uo pipefail
out=${OUT:-gpu-check}
mkdir -p "$out"
export PYTHONPATH=src:benchmarks PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
step() {  # step NAME LIMIT_S COMMAND...: run, log to $out/NAME.log, record its status and time
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    echo "$name: exit $? after $((SECONDS - start)) s" | tee -a "$out/summary.txt"
}
: > "$out/summary.txt"
step device 30 bash -c "nvidia-smi; $py -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())'"
step cuda_tests 120 $py -m pytest -q -p no:cacheprovider tests/test_train.py tests/test_batched.py tests/test_ntk.py -k cuda
step throughput 90 $py benchmarks/train_throughput.py --device cuda
step batched_seeds 180 $py benchmarks/batched_seeds.py --device cuda --widths 512 1024 --n 2000 --data synthetic --steps 1000
if [ -f gpu-run.json ]; then
    step paper_run 150 $py benchmarks/paper_run.py --run gpu-run.json --device cuda --steps 1000
else
    echo "paper_run: skipped, gpu-run.json missing (see the header of this script)" | tee -a "$out/summary.txt"
fi
tail -n 8 "$out"/batched_seeds.log "$out"/paper_run.log 2>/dev/null
