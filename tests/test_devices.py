"""One GPU per job: the slot claim (file locks) and CUDA_VISIBLE_DEVICES, on the CPU."""

import subprocess
import sys
import textwrap

import pytest
import torch

from lplr import devices


@pytest.fixture(autouse=True)
def release():
    yield
    devices.release_gpus()


def test_visible_gpus_follow_cuda_visible_devices():
    assert devices.visible_gpus(3, {}) == ["0", "1", "2"]
    assert devices.visible_gpus(2, {"CUDA_VISIBLE_DEVICES": "2,5"}) == ["2", "5"]
    uuid = "GPU-8f2c1e7a-0000-1111-2222-333344445555"
    assert devices.visible_gpus(1, {"CUDA_VISIBLE_DEVICES": uuid}) == [uuid]


def test_a_process_keeps_its_claim(tmp_path):
    first = devices.claim_gpu(["0", "1"], tmp_path)
    assert devices.claim_gpu(["0", "1"], tmp_path) == first == 0
    assert (tmp_path / "gpu-0.lock").read_text().strip().isdigit()


HOLDER = textwrap.dedent("""
    import sys
    from lplr import devices
    print(devices.claim_gpu(sys.argv[2].split(","), sys.argv[1], wait_s=float(sys.argv[3]), poll_s=0.05), flush=True)
    sys.stdin.readline()  # hold the claim until told to exit
""")


def start_holder(lock_dir, gpus="0,1,2", wait_s=30):
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_dir), gpus, str(wait_s)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def test_concurrent_jobs_get_different_gpus_and_a_dead_job_frees_its_gpu(tmp_path):
    a, index_a = start_holder(tmp_path)
    b, index_b = start_holder(tmp_path)
    assert (index_a, index_b) == ("0", "1")
    a.kill()  # SIGKILL: the kernel drops the flock with the process
    a.wait()
    c, index_c = start_holder(tmp_path)
    assert index_c == "0"
    for process in (b, c):
        process.communicate("\n", timeout=30)


def test_claims_name_physical_gpus(tmp_path):
    """A job that sees GPUs 2,3 and one that sees 3 only must not both take physical GPU 3."""
    a, index_a = start_holder(tmp_path, gpus="3")
    assert index_a == "0" and (tmp_path / "gpu-3.lock").exists()
    assert devices.claim_gpu(["2", "3"], tmp_path) == 0  # physical 2: 3 is taken
    with pytest.raises(TimeoutError, match="GPUs \\(3\\) stayed claimed.*--resources gpu=N"):
        _claim_in_child(tmp_path, "3")
    a.communicate("\n", timeout=30)


def _claim_in_child(lock_dir, gpus):
    """A second process asking for a taken GPU with no wait: its TimeoutError, re-raised here."""
    code = ("import sys\nfrom lplr import devices\n"
            "try:\n    devices.claim_gpu(sys.argv[2].split(','), sys.argv[1], wait_s=0)\n"
            "except TimeoutError as error:\n    print(error)\n")
    out = subprocess.run([sys.executable, "-c", code, str(lock_dir), gpus], capture_output=True, text=True, timeout=60)
    if out.stdout:
        raise TimeoutError(out.stdout.strip())


def test_slurm_jobs_and_single_gpus_use_cuda_0_without_a_claim(tmp_path):
    assert devices.cuda_index(4, {"SLURM_JOB_ID": "17", "CUDA_VISIBLE_DEVICES": "3"}, tmp_path) == 0
    assert devices.cuda_index(1, {}, tmp_path) == 0
    assert not list(tmp_path.iterdir())
    assert devices.cuda_index(4, {"CUDA_VISIBLE_DEVICES": "4,5,6,7"}, tmp_path) == 0
    assert (tmp_path / "gpu-4.lock").exists()


def test_resolve_device_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    assert devices.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="config key 'device'.*device=cpu"):
        devices.resolve_device("cuda")


def test_resolve_device_claims_a_gpu_on_a_multi_gpu_machine(monkeypatch, tmp_path):
    """torch as it is on a 3-GPU machine (the CUDA calls replaced; the locks are real)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setenv(devices.LOCK_DIR_ENV, str(tmp_path))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    other, index = start_holder(tmp_path)  # another job holds GPU 0
    assert index == "0"
    assert devices.resolve_device("auto") == torch.device("cuda", 1)
    assert devices.resolve_device("cuda") == torch.device("cuda", 1)  # the same claim
    assert devices.resolve_device("cuda:2") == torch.device("cuda", 2)  # explicit: as given
    other.communicate("\n", timeout=30)
