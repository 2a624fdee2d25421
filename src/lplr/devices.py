"""Which device a job computes on, and its numerics (configure_torch): one GPU per job, also when several jobs share a multi-GPU machine.

Snakemake gives local jobs no GPU ids: with `--resources gpu=4` it starts four training jobs at once,
and each would open `cuda` = GPU 0. So a job claims a GPU slot itself:
    - Inside a SLURM allocation (SLURM_JOB_ID set) the GPUs SLURM gave the job are the only ones in
      CUDA_VISIBLE_DEVICES; they are the job's own: cuda:0, no claim.
    - Otherwise, with more than one visible GPU, the job takes the first GPU whose lock file it can
      lock (fcntl.flock, exclusive, non-blocking) and holds the lock until the process exits. The
      kernel releases a flock when its holder dies, also on SIGKILL, so no stale claim survives.
      Lock files are named after the physical GPU (the CUDA_VISIBLE_DEVICES entry, an index or a
      UUID), so jobs that see different subsets of GPUs still agree on who has which.
    - One visible GPU: cuda:0.
The lock folder is LPLR_GPU_LOCK_DIR, default <tmp>/lplr-gpu-locks-<uid> (one machine, one user's jobs).
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

LOCK_DIR_ENV = "LPLR_GPU_LOCK_DIR"
_held_locks: dict[str, int] = {}  # physical GPU -> the open, locked file descriptor (held until exit)


def visible_gpus(count: int, environ: dict | None = None) -> list[str]:
    """Physical names of the `count` GPUs torch numbers 0..count-1: CUDA_VISIBLE_DEVICES's entries
    when it is set (torch's cuda:i is its i-th entry), else '0'..'count-1'."""
    environ = os.environ if environ is None else environ
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return [str(i) for i in range(count)]
    names = [name.strip() for name in listed.split(",") if name.strip()]
    return names[:count]


def default_lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"lplr-gpu-locks-{os.getuid()}")


def claim_gpu(gpus: list[str], lock_dir: str | os.PathLike, wait_s: float = 3600.0, poll_s: float = 1.0) -> int:
    """Index into `gpus` of the first one this process could lock; waits while all are taken.

    A process keeps its claim: asking again returns the same index."""
    for index, name in enumerate(gpus):
        if name in _held_locks:
            return index
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    waited = False
    while True:
        for index, name in enumerate(gpus):
            fd = os.open(lock_dir / f"gpu-{_safe(name)}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())  # for people: who holds it
            _held_locks[name] = fd
            return index
        if time.monotonic() >= deadline:
            raise TimeoutError(f"all {len(gpus)} GPUs ({', '.join(gpus)}) stayed claimed by other jobs for {wait_s:.0f} s "
                               f"(lock files in {lock_dir}); run fewer jobs at once (snakemake --resources gpu=N "
                               "with N the number of GPUs)")
        if not waited:
            print(f"all {len(gpus)} GPUs are claimed by other jobs (locks in {lock_dir}); waiting", file=sys.stderr)
            waited = True
        time.sleep(poll_s)


def release_gpus() -> None:
    """Give back every GPU this process claimed (process exit does the same)."""
    while _held_locks:
        os.close(_held_locks.popitem()[1])


def cuda_index(count: int, environ: dict | None = None, lock_dir: str | os.PathLike | None = None) -> int:
    """The cuda:i this job computes on, among `count` GPUs torch sees (see the module docstring)."""
    environ = os.environ if environ is None else environ
    if count <= 1 or environ.get("SLURM_JOB_ID"):
        return 0
    return claim_gpu(visible_gpus(count, environ), lock_dir or default_lock_dir())


def resolve_device(name: str) -> torch.device:
    """'auto' is cuda when present, else cpu; an explicit 'cuda' without a GPU is an error.
    'auto' and 'cuda' get a GPU of their own on a multi-GPU machine; 'cuda:i' is taken as given."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' was requested (config key 'device') but torch sees no CUDA GPU; "
                           "use device=auto or device=cpu")
    if name == "cuda":
        index = cuda_index(torch.cuda.device_count())
        print(f"device: cuda:{index} of {torch.cuda.device_count()} visible GPUs", file=sys.stderr)
        return torch.device("cuda", index)
    return torch.device(name)


def configure_torch(device: torch.device, threads: int | None) -> None:
    """Reproducible numerics for every job that computes (training, probes): TF32 off (it silently rounds
    float32 matmuls to 10 mantissa bits), deterministic cuDNN, and the job's thread count."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True  # the CNN's conv backward, else run-to-run noise on GPUs
    if threads:
        torch.set_num_threads(threads)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)
