"""Every figure in lplr.plots draws from small synthetic tables (no workflow run), writes a vector PDF and
a PNG beside it, and marks diverged runs and runs without a linear window instead of crashing."""

import inspect
from pathlib import Path

import matplotlib.image
import matplotlib.text
import numpy as np
import pandas as pd
import pytest

from lplr import plots
from lplr.config import run_id
from lplr.fit import aggregate

N = 200  # training points of the synthetic runs
NAN = float("nan")


def checkpoint_steps(steps: int, count: int = 8) -> list[int]:
    return sorted({0, steps, *np.round(np.geomspace(1, steps, count - 1)).astype(int).tolist()})


def curve(steps, rate, t0=40, floor=1e-4, seed=0, eval_every=1, flat=False, sgd=False) -> pd.DataFrame:
    """Gap: a fast transient up to t0, then exp(-rate t); G = 0.6 gap^0.8; relative drift saturating."""
    rng = np.random.default_rng(seed)
    t = np.arange(0, steps + 1, eval_every)
    log_gap = np.where(t < t0, -0.06 * t, -0.06 * t0 - rate * (t - t0))
    noise = rng.standard_normal(len(t))
    if flat:  # no linear regime: a plateau with large multiplicative noise
        log_gap = -1.0 + 0.8 * noise
    gap = 0.5 * np.exp(log_gap + 0.01 * noise)
    frame = pd.DataFrame({
        "step": t, "loss": floor + gap, "grad_norm_sq": 0.6 * gap ** 0.8,
        "drift": 3.0 * (1 - np.exp(-t / 300)), "rel_drift": 0.05 * (1 + seed * 0.1) * (1 - np.exp(-t / 300)),
        "step_time": 1e-3, "test_loss": NAN, "test_accuracy": NAN, "epoch": t * (64 / N if sgd else 1.0),
    })
    probes = frame["step"].isin(checkpoint_steps(steps))
    frame.loc[probes, "test_loss"] = frame.loc[probes, "loss"] * 1.1
    frame.loc[probes, "test_accuracy"] = 0.99
    if sgd:
        frame["batch_loss"] = frame["loss"] * np.exp(0.3 * rng.standard_normal(len(t)))
    return frame


def diverged_curve(step_of_divergence: int) -> pd.DataFrame:
    t = np.arange(step_of_divergence + 1)
    loss = 0.5 * np.exp(0.2 * t)
    loss[-1] = np.inf
    return pd.DataFrame({"step": t, "loss": loss, "grad_norm_sq": loss * 3, "drift": t * 0.1, "rel_drift": t * 0.01,
                         "step_time": 1e-3, "test_loss": NAN, "test_accuracy": NAN, "epoch": t})


def spectrum(steps, lr, exit_after, sharpness_0, seed=0) -> pd.DataFrame:
    """lambda_min ratio 1 / (1 + t / exit_after): below 0.5 after `exit_after` steps; sharpness rising toward 1.9."""
    t = np.array(checkpoint_steps(steps), dtype=float)
    ratio = 1.0 / (1.0 + t / exit_after)
    lam_min = 0.2 * (1 + 0.05 * seed) * ratio
    lam_max = (sharpness_0 + (1.9 - sharpness_0) * (t / steps) ** 0.7) * N / lr
    return pd.DataFrame({
        "step": t.astype(int), "n_probe": N, "lambda_min": lam_min, "lambda_max": lam_max, "lambda_min_ratio": ratio,
        "condition": lam_max / lam_min, "mu": lam_min / N, "sharpness": lr * lam_max / N,
        "kernel_change": 0.02 * np.sqrt(t / steps) * (1 + seed * 0.1), "probe_loss": NAN, "probe_grad_norm_sq": NAN,
        "audit_ok": True, "lqcr_q": 1.5,
    })


def fit_row(run, condition, seed, metrics, spec, lr, sharpness_0, status="completed", diverged_step=None,
            rate=NAN, t0=NAN, t1=NAN, has_window=True) -> dict:
    row = {"run": run, **condition, "seed": seed, "status": status, "diverged_step": diverged_step, "eta": lr,
           "sharpness_0": sharpness_0, "final_loss": float(metrics["loss"].iloc[-1]),
           "final_drift": float(metrics["drift"].iloc[-1]), "final_rel_drift": float(metrics["rel_drift"].iloc[-1]),
           "final_test_accuracy": 0.99}
    empty = dict.fromkeys(["lstar", "t0", "t1", "rate", "r2", "pl_slope", "pl_envelope", "mu_at_t0", "predicted_rate",
                           "mu_0", "lambda_min_ratio_final", "kernel_change_final", "sharpness_max", "lplr_exit_step",
                           "lqcr_min"], NAN)
    if status != "completed":
        return {**row, **empty, "has_window": False}
    row.update(empty, lstar=0.9 * float(metrics["loss"].min()), has_window=has_window)
    if has_window:
        gap = metrics["loss"] - row["lstar"]
        row.update(t0=t0, t1=t1, rate=rate, r2=0.999, pl_slope=0.8 + 0.01 * seed,
                   pl_envelope=float((metrics["grad_norm_sq"] / (2 * gap)).min()))
    if spec is not None:
        outside = spec.loc[spec["lambda_min_ratio"] < 0.5, "step"]
        row.update(mu_at_t0=float(spec["mu"].iloc[1]), mu_0=float(spec["mu"].iloc[0]),
                   predicted_rate=-2 * np.log1p(-lr * float(spec["mu"].iloc[1])),
                   lambda_min_ratio_final=float(spec["lambda_min_ratio"].iloc[-1]),
                   kernel_change_final=float(spec["kernel_change"].iloc[-1]), sharpness_max=float(spec["sharpness"].max()),
                   lplr_exit_step=float(outside.iloc[0]) if len(outside) else NAN, lqcr_min=1.5)
    return row


def experiment(conditions, seeds, steps=600, eval_every=1, diverged=(), no_window=(), sgd=False, probe=True):
    """(fits, curves, spectra, linearised); `conditions` = [(settings dict, rate, lr, sharpness_0, exit_after)],
    `diverged` / `no_window` = (condition index, seed) pairs."""
    rows, curves, spectra, linearised = [], {}, {}, {}
    for k, (condition, rate, lr, sharpness_0, exit_after) in enumerate(conditions):
        for seed in seeds:
            run = run_id(condition, seed)
            eta = lr * (1 + 0.03 * seed)  # a calibrated step differs per seed: the run id keeps the level
            if (k, seed) in diverged:
                curves[run] = diverged_curve(37)
                rows.append(fit_row(run, condition, seed, curves[run], None, eta, sharpness_0, status="diverged",
                                    diverged_step=37))
                continue
            flat = (k, seed) in no_window
            curves[run] = m = curve(steps, rate, seed=seed, eval_every=eval_every, flat=flat, sgd=sgd)
            spec = spectrum(steps, eta, exit_after, sharpness_0, seed) if probe else None
            if spec is not None:
                spectra[run] = spec
            linearised[run] = 0.5 * np.exp(-rate * 0.6 * m["step"].to_numpy(float))
            rows.append(fit_row(run, condition, seed, m, spec, eta, sharpness_0, rate=rate * (1 + 0.02 * seed), t0=40 + 2 * seed,
                                t1=steps * 0.8 // eval_every * eval_every, has_window=not flat))
    return pd.DataFrame(rows), curves, spectra, linearised


def make_e1():
    conditions = [({"width": w}, 0.006 + 0.002 * i, 0.4, 0.8 + 0.2 * i, 150 * 4 ** i) for i, w in enumerate((32, 64, 128))]
    return experiment(conditions, seeds=(0, 1, 2), diverged={(2, 2)}, no_window={(0, 2)})


def make_e2():
    conditions = []
    for comparison in ("equal eta", "equal sharpness"):
        for init, rate, sharpness in (("he", 0.012, 1.0), ("depth_aware", 0.005, 0.2 if comparison == "equal eta" else 1.0)):
            conditions.append(({"init": init, "comparison": comparison}, rate, 0.4, sharpness, 5000))
    return experiment(conditions, seeds=(0, 1, 2), diverged={(0, 2)}, no_window={(3, 1)}, probe=False)


def make_e3():
    conditions = [({"lr_mode": "calibrated", "lr": lr}, rate, lr, lr, exit_after)
                  for lr, rate, exit_after in ((1.5, 0.02, 1), (0.5, 0.012, 60), (0.1, 0.003, 10 ** 6))]
    return experiment(conditions, seeds=(0, 1), diverged={(0, 0), (0, 1)})


def make_e4():
    return experiment([({"width": 8}, 0.004, 0.05, 0.3, 500)], seeds=(0, 1, 2, 3), steps=2000, eval_every=10,
                      diverged={(0, 3)}, no_window={(0, 2)}, sgd=True, probe=False)


@pytest.fixture(scope="module")
def e1():
    return make_e1()


@pytest.fixture(scope="module")
def e2():
    return make_e2()


@pytest.fixture(scope="module")
def e3():
    return make_e3()


@pytest.fixture(scope="module")
def e4():
    return make_e4()


def summary(fits, by, columns=("final_loss", "rate", "pl_slope", "pl_envelope", "mu_0", "final_rel_drift")):
    return aggregate(fits[fits["status"] == "completed"], by, list(columns), 0.95)


def e5_summary():
    rows = []
    for b, rate, slope, loss, seeds in ((16, 2e-3, 0.35, 3e-3, 3), (64, 3e-3, 0.5, 1e-3, 3), (256, 4e-3, 0.7, 5e-4, 3),
                                        (2000, 5e-3, 0.9, 2e-4, 1)):  # the full batch with one seed: no interval
        for stat, mean in (("rate", rate), ("pl_slope", slope), ("final_loss", loss)):
            half = NAN if seeds < 2 else 0.2 * mean
            rows.append({"batch_size": b, "statistic": stat, "mean": mean, "ci_low": mean - half, "ci_high": mean + half,
                         "n_seeds": seeds})
    return pd.DataFrame(rows)


FIGURES = {
    "loss_decay": (lambda e1, e2, e3, e4, out: plots.loss_decay(e1[0], e1[1], e1[3], out), ("diverged at step", "no linear window")),
    "pl_scaling": (lambda e1, e2, e3, e4, out: plots.pl_scaling(e1[0], e1[1], out), ("diverged at step", "no linear window")),
    "width_ablation": (lambda e1, e2, e3, e4, out: plots.width_ablation(summary(e1[0], ["width"]), out, 0.95,
                                                                         {"slope": -0.5}), ("95% t-intervals",)),
    "init_comparison": (lambda e1, e2, e3, e4, out: plots.init_comparison(e2[0], e2[1], out),
                        ("diverged at step", "no linear window", "window start")),
    "step_size": (lambda e1, e2, e3, e4, out: plots.step_size(e3[0], e3[1], e3[2], out, exit_fraction=0.5),
                  ("diverged at step", "exit fraction 0.5", "leaves the LPLR")),
    "ntk_stability": (lambda e1, e2, e3, e4, out: plots.ntk_stability(e1[0], e1[2], out), ("diverged at step",
                      "no linear window", "edge of stability", "leaves the LPLR (3/8 runs)")),
    "pl_ratio": (lambda e1, e2, e3, e4, out: plots.pl_ratio(e1[0], e1[1], e1[2], out), ("diverged at step", "median")),
    "cnn_sgd": (lambda e1, e2, e3, e4, out: plots.cnn_sgd(e4[0], e4[1], out), ("diverged at step", "no linear window",
                                                                              "seed 2: no window", "slope 1")),
    "batch_size": (lambda e1, e2, e3, e4, out: plots.batch_size(e5_summary(), out, 0.95), ("1-3 seeds",)),
}


def _texts(fig) -> str:
    """Every text drawn in a figure: titles, labels, legends, notes."""
    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


@pytest.fixture(scope="module")
def drawn(tmp_path_factory, e1, e2, e3, e4):
    """Every figure drawn once into one folder; (folder, {name: its text})."""
    folder, texts, real_save = tmp_path_factory.mktemp("figures"), {}, plots.save

    def save(fig, path):
        texts[Path(path).stem] = _texts(fig)
        real_save(fig, path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "save", save)
        for name, (draw, _) in FIGURES.items():
            draw(e1, e2, e3, e4, folder / f"{name}.pdf")
    return folder, texts


def test_every_figure_function_is_covered():
    helpers = {"set_style", "palette", "save"}
    public = {name for name, obj in vars(plots).items()
              if inspect.isfunction(obj) and obj.__module__ == plots.__name__ and not name.startswith("_")} - helpers
    assert public == set(FIGURES)


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_writes_vector_pdf_and_png_and_marks_failures(name, drawn):
    folder, texts = drawn
    out = folder / f"{name}.pdf"
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
    assert b"/Subtype /Image" not in pdf  # vector: no raster embedded
    image = matplotlib.image.imread(out.with_suffix(".png"))
    assert image.shape[0] > 250 and image.shape[1] > 300
    ink = (image[..., :3].mean(axis=2) < 0.9).mean()
    assert 0.01 < ink < 0.6  # something drawn, not a blank or a solid block
    for expected in FIGURES[name][1]:
        assert expected in texts[name], f"{name}: {expected!r} not in the figure's text"


def test_no_temporaries_left(drawn):
    folder, _ = drawn
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.{ext}" for n in FIGURES for ext in ("pdf", "png"))


def test_a_level_whose_runs_all_diverged_is_noted_not_drawn(drawn):
    text = drawn[1]["step_size"]
    assert "lr=1.5,seed=0: diverged at step 37" in text and "lr = 1.5" not in text
    assert "lr = 0.5" in text and "lr = 0.1" in text  # the levels come from the run ids, not the per-seed eta


def test_figures_survive_runs_without_spectra_or_windows(e1, monkeypatch):
    texts = {}
    monkeypatch.setattr(plots, "save", lambda fig, path: texts.update({Path(path).stem: _texts(fig)}))  # no files
    fits, curves, spectra, _ = e1
    no_windows = fits.assign(has_window=False, t0=NAN, t1=NAN, rate=NAN, pl_slope=NAN, pl_envelope=NAN)
    plots.cnn_sgd(no_windows, curves, "cnn_sgd.pdf")
    plots.pl_ratio(fits, curves, {}, "pl_ratio.pdf")
    plots.ntk_stability(fits, {}, "ntk_stability.pdf")
    assert "no run with both a curve and a spectrum" in texts["pl_ratio"]
    assert "no probed runs" in texts["ntk_stability"]
    assert texts["cnn_sgd"].count("no window") >= 8
