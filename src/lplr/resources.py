"""Cluster resources of a training or probe job from the job's size: cpus, host memory, runtime.

Snakemake asks these for every job it submits (workflow/rules/common.smk's input functions); the
SLURM executor turns them into `--cpus-per-task`, `--mem` and `-t`. The inputs are plain numbers:
    P      parameters of one model (`parameter_count`: from arch, width, depth and the sample shape)
    n      training points;  S: probe points (min(n, ntk.probe_size));  T: steps;  C: checkpoints
    width, depth            of the model
    seeds  runs trained in one job (1 today: a job is one run; a job holding every seed of a
           condition scales memory and time by the seed count)
    device "cpu" | "cuda" | "auto" (where the job lands is unknown when it is submitted: memory and
           runtime take the larger of the cpu and cuda figures, threads the cpu rule)

Memory: host RAM in MiB, the largest process size (max_rss) the job can reach
    train  base + seeds * bytes_train,   bytes_train = 4 (float32) * (COPIES_TRAIN * P + 3 n width depth)
           the flat parameters, theta_0, theta - theta_0, the gradients, the momentum buffer and the
           checkpoint's host copy (COPIES_TRAIN of P), and the activations kept for backward
           (3 n width depth). On a GPU they live in device memory; the host holds the checkpoint copy.
    probe  base + seeds * bytes_probe,   bytes_probe = 8 (float64) * ((C + 2) P + 4 S^2 + 3 S width depth)
           every checkpoint's float64 model (probe_run keeps them), the kernel, its eigenvectors and
           two work copies (4 S^2), per-layer activations for the structured NTK (3 S width depth).
Runtime: minutes, a full-batch step costs about 6 n P flops (forward 2 n P, backward 4 n P)
    train  startup + seeds * T * 6 n P / FLOPS[device, float32]
    probe  startup + seeds * C * (6 (n + S) P + 4 S^2 width depth + 10 S^3) / FLOPS[device, float64]
           per checkpoint: the full-batch gradient (LQCR) and the audit's gradient, the structured
           kernel, the eigendecomposition.
The figures are padded by MARGIN and multiplied by the attempt number, so a retry after a
TIMEOUT or OUT_OF_MEMORY asks for more. The CPU rates and the base memory are calibrated from the
`benchmark:` records of the default run (benchmarks/resources.py prints request / measured: at
least 1.2 for memory and 1.9 for time over the 30 E1 and E4 jobs);
the GPU rates are assumptions (OUR CHOICE, no GPU was available to calibrate them): 5 TFLOP/s
float32 without TF32 and 1 TFLOP/s float64, below what data-centre GPUs sustain, so the requests
err on the long side.
"""

from __future__ import annotations

import math

MIB = 2**20
MARGIN = 1.5
# the job's process with torch imported and the data loaded: max_rss 725-999 MB in the records
# (cuda: + the CUDA context, OUR CHOICE)
BASE_MEMORY_MB = {"cpu": 800, "cuda": 3000}
STARTUP_MINUTES = 2  # imports, data loading, lambda_max(Theta_0)
MIN_RUNTIME_MINUTES = 5
# flop/s a job sustains. cpu: a quarter of the 42 GFLOP/s a quiet core trains at
# (benchmarks/README.md), about what the default run's width-256 jobs got on a loaded machine;
# cuda: OUR CHOICE, see above. (6 n P undercounts the CNN, whose weights act at every pixel; the
# runtime floor covers the default CNN, 2-2.5 min measured.)
FLOPS = {("cpu", "float32"): 1e10, ("cpu", "float64"): 5e9, ("cuda", "float32"): 5e12, ("cuda", "float64"): 1e12}
COPIES_TRAIN = 6
# threads per job: one is enough below this many flops per step (and keeps CPU runs bit-identical
# to the default local run, which uses one thread per job); larger CPU jobs get more
THREADS_FLOPS = 1e9
MAX_THREADS = 8
GPU_JOB_CPUS = 2  # a GPU job: the Python process driving the device, and a core for file I/O


def job_gpus(device: str, gpus: int | str = "auto") -> int:
    """GPUs a training or probe job asks the cluster for (config `gpus`): auto = 1 unless `device` pins the jobs
    to the CPU; a number as given, whatever the device (the request is the cluster's, the device torch's)."""
    if gpus == "auto":
        return 0 if device == "cpu" else 1
    return int(gpus)


def parameter_count(arch: str, width: int, depth: int, sample_shape: tuple[int, ...]) -> int:
    """P of lplr.models.build_model's network, without building it (counted on the meta device)."""
    if arch == "mlp":  # depth linear layers: in -> width, (depth - 2) x width -> width, width -> 1
        d = math.prod(sample_shape)
        return d * width + width + (depth - 2) * (width * width + width) + width + 1
    import torch

    from lplr.models import build_model

    with torch.device("meta"):
        model = build_model({"arch": arch, "width": width, "depth": depth, "init": "he"}, tuple(sample_shape))
    return sum(p.numel() for p in model.parameters())


def _device_kinds(device: str) -> tuple[str, ...]:
    """The kinds of device a job with config key `device` may run on."""
    if device == "auto":
        return ("cpu", "cuda")
    if device == "cpu" or device.startswith("cuda"):
        return (device[:4],)
    raise ValueError(f"unknown device {device!r} (config key 'device'); use auto, cpu or cuda")


def _check_size(**sizes) -> None:
    for name, value in sizes.items():
        if value < 1:
            raise ValueError(f"job size {name} = {value} must be at least 1")


def train_memory_mb(params: int, n: int, width: int, depth: int, seeds: int, device: str, attempt: int = 1) -> int:
    _check_size(params=params, n=n, width=width, depth=depth, seeds=seeds, attempt=attempt)
    per_run = {"cpu": 4 * (COPIES_TRAIN * params + 3 * n * width * depth), "cuda": 4 * 2 * params}
    return max(_mb(BASE_MEMORY_MB[kind] * MIB + seeds * per_run[kind], attempt) for kind in _device_kinds(device))


def probe_memory_mb(params: int, n_probe: int, width: int, depth: int, checkpoints: int, seeds: int, device: str,
                    attempt: int = 1) -> int:
    _check_size(params=params, n_probe=n_probe, width=width, depth=depth, checkpoints=checkpoints, seeds=seeds)
    # on a GPU the host only loads a checkpoint (float32) and casts it (float64)
    per_run = {"cpu": 8 * ((checkpoints + 2) * params + 4 * n_probe**2 + 3 * n_probe * width * depth),
               "cuda": (4 + 8) * params}
    return max(_mb(BASE_MEMORY_MB[kind] * MIB + seeds * per_run[kind], attempt) for kind in _device_kinds(device))


def train_runtime_min(params: int, n: int, steps: int, seeds: int, device: str, attempt: int = 1) -> int:
    _check_size(params=params, n=n, steps=steps, seeds=seeds, attempt=attempt)
    flops = seeds * steps * 6 * n * params
    return max(_minutes(flops / FLOPS[kind, "float32"], attempt) for kind in _device_kinds(device))


def train_priority(params: int, n: int, steps: int, seeds: int) -> int:
    """Snakemake priority of a training job: its GD work in GFLOP (seeds x steps x 6 n P), so the widest,
    longest jobs start first and a run does not end waiting on one of them (a CNN's convolutions reuse
    each weight and do more work than 6 n P; its jobs are short and many)."""
    _check_size(params=params, n=n, steps=steps, seeds=seeds)
    return int(seeds * steps * 6 * n * params // 10**9)


def probe_runtime_min(params: int, n: int, n_probe: int, width: int, depth: int, checkpoints: int, seeds: int,
                      device: str, attempt: int = 1) -> int:
    _check_size(params=params, n=n, n_probe=n_probe, checkpoints=checkpoints, seeds=seeds, attempt=attempt)
    per_checkpoint = 6 * (n + n_probe) * params + 4 * n_probe**2 * width * depth + 10 * n_probe**3
    flops = seeds * checkpoints * per_checkpoint
    return max(_minutes(flops / FLOPS[kind, "float64"], attempt) for kind in _device_kinds(device))


def cpus_per_task(params: int, n: int, device: str) -> int:
    """Threads of a training or probe job: GPU_JOB_CPUS with a GPU; on a CPU (and for 'auto') 1 for
    small jobs, doubling per doubling of the step's work above THREADS_FLOPS, up to MAX_THREADS."""
    _check_size(params=params, n=n)
    if _device_kinds(device) == ("cuda",):
        return GPU_JOB_CPUS
    doublings = math.log2(6 * n * params / THREADS_FLOPS)
    return int(min(MAX_THREADS, 2 ** max(0, math.floor(doublings))))


def _mb(nbytes: float, attempt: int) -> int:
    return int(math.ceil(nbytes * MARGIN * attempt / MIB))


def _minutes(compute_seconds: float, attempt: int) -> int:
    minutes = STARTUP_MINUTES + MARGIN * compute_seconds / 60
    return int(max(MIN_RUNTIME_MINUTES, math.ceil(minutes)) * attempt)
