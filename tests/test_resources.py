"""Cluster requests from a job's size (lplr.resources) and the shapes they are computed from."""

import pytest
import torch

from lplr import resources
from lplr.data import prepare, sample_shape
from lplr.models import build_model

PAPER = dict(n=2000, steps=5000, checkpoints=16, depth=5)


@pytest.mark.parametrize("arch, width, depth, shape", [("mlp", 8, 5, (1, 28, 28)), ("mlp", 300, 3, (3, 8, 8)),
                                                       ("cnn", 8, 3, (1, 7, 7)), ("cnn", 4, 1, (3, 32, 32))])
def test_parameter_count_is_the_models(arch, width, depth, shape):
    torch.manual_seed(0)
    model = build_model({"arch": arch, "width": width, "depth": depth, "init": "he"}, shape)
    assert resources.parameter_count(arch, width, depth, shape) == sum(p.numel() for p in model.parameters())


def test_sample_shape_is_the_prepared_shape(tmp_path):
    settings = {"dataset": "digits", "classes": [0, 1], "n_train": 20, "n_test": 20, "normalization": "pixels",
                "seed": 0, "root": str(tmp_path), "downsample": 2}
    assert list(sample_shape(settings)) == prepare(settings, tmp_path)["shape"] == [1, 4, 4]
    assert sample_shape({"dataset": "mnist"}) == (1, 28, 28)


def test_paper_scale_requests():
    params = resources.parameter_count("mlp", 4096, 5, (1, 28, 28))
    assert params == 53_563_393  # 784*4096 + 4096 + 3*(4096^2 + 4096) + 4096 + 1
    mem = resources.train_memory_mb(params, PAPER["n"], 4096, 5, seeds=1, device="cuda")
    # the CUDA process plus two float32 copies of the parameters, padded by MARGIN
    assert mem == pytest.approx(resources.MARGIN * (resources.BASE_MEMORY_MB["cuda"] + 8 * params / 2**20), abs=1)
    runtime = resources.train_runtime_min(params, PAPER["n"], PAPER["steps"], seeds=1, device="cuda")
    assert 5 <= runtime <= 60  # 3.2e15 flops at 5 TFLOP/s: 11 min, padded
    assert resources.cpus_per_task(params, PAPER["n"], "cuda") == resources.GPU_JOB_CPUS
    assert resources.cpus_per_task(params, PAPER["n"], "cpu") == resources.MAX_THREADS


def test_requests_grow_with_the_job():
    small, large = (resources.parameter_count("mlp", w, 5, (1, 28, 28)) for w in (64, 1024))
    for device in ("cpu", "cuda"):
        assert resources.train_memory_mb(small, 256, 64, 5, 1, device) < resources.train_memory_mb(large, 256, 1024, 5, 1, device)
        one = resources.probe_memory_mb(large, 2000, 1024, 5, 16, 1, device)
        assert resources.probe_memory_mb(large, 2000, 1024, 5, 16, 3, device) > one
        assert resources.probe_memory_mb(large, 2000, 1024, 5, 16, 1, device, attempt=2) == pytest.approx(2 * one, abs=1)
        time_one = resources.train_runtime_min(large, 2000, 5000, 1, device)
        assert resources.train_runtime_min(large, 2000, 5000, 3, device) >= time_one
        assert resources.train_runtime_min(large, 2000, 5000, 1, device, attempt=3) == 3 * time_one
    assert resources.train_runtime_min(large, 2000, 5000, 1, "cpu") > resources.train_runtime_min(large, 2000, 5000, 1, "cuda")


def test_auto_asks_for_the_larger_of_cpu_and_gpu():
    params = resources.parameter_count("mlp", 2048, 5, (1, 28, 28))
    for request in (lambda d: resources.train_memory_mb(params, 2000, 2048, 5, 1, d),
                    lambda d: resources.probe_memory_mb(params, 2000, 2048, 5, 16, 1, d),
                    lambda d: resources.train_runtime_min(params, 2000, 5000, 1, d),
                    lambda d: resources.probe_runtime_min(params, 2000, 2000, 2048, 5, 16, 1, d)):
        assert request("auto") == max(request("cpu"), request("cuda"))


def test_default_scale_jobs_use_one_thread():
    """One thread keeps CPU runs bit-identical to the local default run (and between cluster and laptop)."""
    params = resources.parameter_count("mlp", 256, 5, (1, 28, 28))
    assert resources.cpus_per_task(params, 256, "cpu") == resources.cpus_per_task(params, 256, "auto") == 1


def test_bad_sizes_and_devices_are_named():
    with pytest.raises(ValueError, match="config key 'device'"):
        resources.train_memory_mb(10, 10, 2, 2, 1, "tpu")
    with pytest.raises(ValueError, match="seeds = 0"):
        resources.train_runtime_min(10, 10, 10, 0, "cpu")


def test_training_priority_orders_jobs_by_their_work():
    """The widest, longest, most-seeded jobs start first (Snakemake runs higher priorities first)."""
    from lplr.resources import parameter_count, train_priority

    def mlp(width):
        return parameter_count("mlp", width, 5, (1, 28, 28))
    e1_widest = train_priority(mlp(256), 256, 2000, 8)
    assert e1_widest > train_priority(mlp(64), 256, 10000, 5) > train_priority(mlp(32), 256, 2000, 8) > 0
    assert train_priority(mlp(256), 256, 2000, 3) < e1_widest


def test_the_gpu_request_is_apart_from_the_device():
    assert resources.job_gpus("cpu") == 0 and resources.job_gpus("cuda") == resources.job_gpus("auto") == 1
    assert resources.job_gpus("cpu", 1) == 1  # a GPU asked for on a CPU run (the SLURM test), or
    assert resources.job_gpus("cuda", 0) == 0  # none asked for where the site gives every node its GPU
