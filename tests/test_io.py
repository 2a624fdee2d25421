"""Every writer of lplr.io gives its output the mode the umask asks for (mkstemp's 0600 is not kept)."""

import os
import stat

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from lplr.plots.style import save
from lplr.io import atomic_path, current_umask, torch_save, write_csv, write_json, write_text


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_every_writer_follows_the_umask(tmp_path, umask):
    assert current_umask() == umask
    write_text(tmp_path / "a.txt", "x")
    write_json(tmp_path / "b.json", {"x": 1})
    write_csv(pd.DataFrame({"x": [1.5]}), tmp_path / "c.csv")
    torch_save({"x": 1}, tmp_path / "d.pt")
    with atomic_path(tmp_path / "e.npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, x=np.arange(3))
    fig, _ = plt.subplots()
    save(fig, tmp_path / "f.pdf")
    names = ["a.txt", "b.json", "c.csv", "d.pt", "e.npz", "f.pdf", "f.png"]
    assert {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in names} == dict.fromkeys(names, 0o666 & ~umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no temporary file is left behind
