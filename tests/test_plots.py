"""Every figure of the registry draws from the analysis tables of small synthetic runs (no workflow run):
synthetic run files -> lplr.analysis -> CSV tables -> lplr.plots.draw_figure. Each writes a vector PDF and
a PNG beside it, and marks diverged runs and runs without a linear window instead of crashing."""

import inspect
from pathlib import Path

import matplotlib.image
import matplotlib.text
import numpy as np
import pandas as pd
import pytest

from lplr.analysis import analyse_experiment
from lplr.config import run_id
from lplr.io import write_csv
from lplr.plots import FIGURES, TABLES, draw_figure, figure_inputs, style

N = 200  # training points of the synthetic runs
NAN = float("nan")


def checkpoint_steps(steps: int, count: int = 8) -> list[int]:
    return sorted({0, steps, *np.round(np.geomspace(1, steps, count - 1)).astype(int).tolist()})


def curve(steps, rate, t0=40, floor=1e-4, seed=0, eval_every=1, flat=False, sgd=False, sharpness_peak=0.8) -> pd.DataFrame:
    """Gap: a fast transient up to t0, then exp(-rate t); G = 0.6 gap^0.8; relative drift saturating; the
    sharpness tracked every 10 steps, rising to `sharpness_peak`."""
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
    frame["sharpness"] = np.where(t % 10 == 0, 0.2 + (sharpness_peak - 0.2) * np.sqrt(t / steps), np.nan)
    return frame


def diverged_curve(step_of_divergence: int) -> pd.DataFrame:
    t = np.arange(step_of_divergence + 1)
    loss = 0.5 * np.exp(0.2 * t)
    loss[-1] = np.inf
    return pd.DataFrame({"step": t, "loss": loss, "grad_norm_sq": loss * 3, "drift": t * 0.1, "rel_drift": t * 0.01,
                         "step_time": 1e-3, "test_loss": NAN, "test_accuracy": NAN, "epoch": t})


def spectrum(steps, lr, exit_after, sharpness_0, metrics, seed=0) -> tuple[pd.DataFrame, dict]:
    """(spectrum.csv, eigenvalues.npz) of a run: lambda_min ratio 1 / (1 + t / exit_after), below 0.5 after
    `exit_after` steps; sharpness rising toward 1.9; the residual spread over a geometric spectrum."""
    t = np.array(checkpoint_steps(steps), dtype=float)
    ratio = 1.0 / (1.0 + t / exit_after)
    lam_min = 0.2 * (1 + 0.05 * seed) * ratio
    lam_max = (sharpness_0 + (1.9 - sharpness_0) * (t / steps) ** 0.7) * N / lr
    loss = metrics.set_index("step")["loss"].reindex(t.astype(int)).to_numpy()
    eigenvalues = np.stack([np.geomspace(lo, hi, N) for lo, hi in zip(lam_min, lam_max)])
    weights = np.stack([np.linspace(0.2, 1.0 + k, N) for k in range(len(t))])  # drifts towards the top of the spectrum
    projections = weights / weights.sum(axis=1, keepdims=True) * (2 * N * loss)[:, None]  # sum p = ||r||^2 = 2 n L
    grad = (projections * eigenvalues).sum(axis=1) / N ** 2
    frame = pd.DataFrame({
        "step": t.astype(int), "n_probe": N, "lambda_min": lam_min, "lambda_max": lam_max, "lambda_min_ratio": ratio,
        "condition": lam_max / lam_min, "mu": lam_min / N, "sharpness": lr * lam_max / N,
        "kernel_change": 0.02 * np.sqrt(t / steps) * (1 + seed * 0.1), "probe_loss": loss, "probe_grad_norm_sq": grad,
        "quadratic_form": grad, "audit_error": 0.0, "audit_tolerance": 1e-12, "audit_ok": True,
        "lqcr_q": np.where(t < steps, 1.5 - (seed == 1) * 2.0 * (t > 10), np.nan),  # seed 1 goes negative
    })
    return frame, {"steps": t.astype(int), "eigenvalues": eigenvalues, "projections": projections, "n_probe": N, "lr": lr}


def manifest(status, lr, sharpness_0, steps, diverged_step=None) -> dict:
    return {"status": status, "diverged_step": diverged_step, "lr": lr, "sharpness_0": sharpness_0, "param_count": 50 * N,
            "n_train": N}


def experiment(conditions, seeds, steps=600, eval_every=1, diverged=(), no_window=(), sgd=False, sharpness_peak=0.8):
    """{run id: run} as lplr.analysis.load_run gives it; `conditions` = [(settings, rate, lr, sharpness_0,
    exit_after)], `diverged` / `no_window` = (condition index, seed) pairs."""
    runs = {}
    for k, (condition, rate, lr, sharpness_0, exit_after) in enumerate(conditions):
        for seed in seeds:
            run = run_id(condition, seed)
            eta = lr * (1 + 0.03 * seed)  # a calibrated step differs per seed: the run id keeps the level
            if (k, seed) in diverged:
                metrics = diverged_curve(37)
                spec, eigen = spectrum(37, eta, exit_after, sharpness_0, metrics.assign(loss=0.5), seed)
                runs[run] = {"settings": {**condition, "seed": seed}, "metrics": metrics, "spectrum": spec,
                             "eigen": eigen, "manifest": manifest("diverged", eta, sharpness_0, steps, 37)}
                continue
            metrics = curve(steps, rate, seed=seed, eval_every=eval_every, flat=(k, seed) in no_window, sgd=sgd,
                            sharpness_peak=sharpness_peak * (1 + 0.2 * seed))
            spec, eigen = spectrum(steps, eta, exit_after, sharpness_0, metrics, seed)
            runs[run] = {"settings": {**condition, "seed": seed}, "metrics": metrics, "spectrum": spec, "eigen": eigen,
                         "manifest": manifest("completed", eta, sharpness_0, steps)}
    return runs


def with_tracked_hessian(runs: dict) -> dict:
    """The runs with eta lambda_max(H_t) tracked every 20 steps (training.hessian_every), 10% above the sharpness,
    and probed at every checkpoint (the probes' hessian_sharpness), 20% above the probe's."""
    for run in runs.values():
        m = run["metrics"]
        m["hessian_sharpness_tracked"] = np.where(m["step"] % 20 == 0, 1.1 * m["sharpness"], np.nan)
        run["spectrum"]["hessian_sharpness"] = 1.2 * run["spectrum"]["sharpness"]
    return runs


FIT = {"lstar": "auto", "lstar_fallback": "min", "min_offset": 0.1, "confidence": 0.95, "lplr_exit_fraction": 0.5,
       "interpolation": {"loss_fraction": 1e-3, "min_params_per_point": 10},
       "rates": {"span": 20, "early": [0.25, 0.5], "late": [0.75, 1.0], "top_k": 10},
       "window": {"r2_min": 0.99, "min_fraction": 0.1, "grid": 48, "max_residual": 0.25}}
SGD_FIT = {**FIT, "window": {**FIT["window"], "r2_min": 0.8, "max_residual": 1.5}}

EXPERIMENTS = {
    "width": lambda: experiment([({"width": w}, 0.006 + 0.002 * i, 0.4, 0.8 + 0.2 * i, 150 * 4 ** i)
                                 for i, w in enumerate((32, 64, 128))],
                                seeds=(0, 1, 2), diverged={(2, 2)}, no_window={(0, 2)}),
    "width_calibrated": lambda: experiment([({"width": w}, 0.006, 0.4, 0.4, 5000) for w in (32, 64)], seeds=(0, 1),
                                           diverged={(1, 1)}),
    "width_eos": lambda: with_tracked_hessian(experiment([({"width": w}, 0.01, 0.4, 1.0, 5000) for w in (32, 64)],
                                                         seeds=(0, 1), sharpness_peak=2.2)),
    "init": lambda: experiment([({"init": init, "lr_mode": mode, "lr": lr}, rate, 0.4, sharpness, 5000)
                                for mode, lr in (("fixed", 0.2), ("calibrated", 0.5))
                                for init, rate, sharpness in (("he", 0.012, 1.0), ("depth_aware", 0.005, 0.2))],
                               seeds=(0, 1, 2), diverged={(0, 2)}, no_window={(3, 1)}),
    "step": lambda: experiment([({"lr": lr}, rate, lr, lr, exit_after)
                                for lr, rate, exit_after in ((1.5, 0.02, 1), (0.5, 0.012, 60), (0.1, 0.003, 10 ** 6))],
                               seeds=(0, 1), diverged={(0, 0), (0, 1)}),
    "cnn": lambda: experiment([({"batch_size": 8}, 0.004, 0.05, 0.3, 500)], seeds=(0, 1, 2, 3), steps=2000,
                              eval_every=10, diverged={(0, 3)}, no_window={(0, 2)}, sgd=True),
    "batch": lambda: experiment([({"batch_size": b}, rate, 0.05, 0.3, 500) for b, rate in ((16, 0.002), (64, 0.003),
                                                                                          (200, 0.004))],
                                seeds=(0, 1, 2), steps=1000, eval_every=10, diverged={(2, 2)}, sgd=True),
    "depth": lambda: experiment([({"depth": d, "init": init}, rate, 0.4, sharpness, exit_after)
                                 for d in (3, 8) for init, rate, sharpness, exit_after in (("he", 0.012, 0.4, 40),
                                                                                           ("depth_aware", 0.008, 0.4, 5000))],
                                seeds=(0, 1, 2), diverged={(2, 2)}),
}


def with_noise(runs: dict) -> dict:
    """SGD runs whose probe measured the noise scale, B_noise rising 10 -> 10 (1 + T/50) along training."""
    for run in runs.values():
        run["settings"]["optimizer"] = "sgd"
        run["spectrum"]["b_noise"] = 10.0 * (1 + run["spectrum"]["step"] / 50)
    return runs


EXPERIMENTS["sgd_noise"] = lambda: with_noise(experiment(
    [({"batch_size": b}, rate, 0.05, 0.2, 10 ** 6) for b, rate in ((N, 0.004), (32, 0.004), (8, 0.0035))],
    seeds=(0, 1, 2), steps=1000, eval_every=10, diverged={(2, 2)}, sgd=True))
VARY = {"sgd_noise": ["batch_size"], "width": ["width"], "width_calibrated": ["width"], "width_eos": ["width"], "init": ["init", "lr", "lr_mode"], "step": ["lr"], "cnn": ["batch_size"],
        "batch": ["batch_size"], "depth": ["depth", "init"]}

EXPECTED_TEXT = {
    "loss_decay": ("diverged at step", "no linear window", "linearised", "$L_t$ ($L^*$ = 0)", r"$L_t$ (gap with $L^*=0$)"),
    "pl_scaling": ("diverged at step", "no linear window"),
    "width_ablation": ("intervals", "log-log slope"),
    "rates_along_training": ("observed", "PL bound", "linearised from each probe", "top-$k$ directions"),
    "init_comparison": ("diverged at step", "no linear window", "window start"),
    "step_size": ("diverged at step", "exit fraction 0.5", "leaves the LPLR", r"$\eta t$ (matched $\eta t$)",
                  r"$L_t$ ($L^*=0$)"),
    "ntk_stability": ("diverged at step", "no linear window", "edge of stability", "leaves the LPLR (3/8 runs)",
                      "$q_t < 0$ at some probe: 3/8 runs"),
    "pl_ratio": ("diverged at step", "median"),
    "sharpness": ("6 of 8 runs stay at or below 1", "GD stability limit", "diverged at step"),
    "sharpness_calibrated": ("3 of 3 runs stay at or below 1", "diverged at step"),
    "sharpness_eos": ("0 of 4 runs stay at or below 1", r"$\eta \leq 1/L$", r"$\eta\lambda_{\max}(H_t)$ (tracked)",
                      r"$\eta\lambda_{\max}(H)$ (probes)"),
    "cnn_sgd": ("diverged at step", "no linear window", "seed 2: no window", "slope 1"),
    "batch_size": ("n = 2-3 of 3 runs",),
    "depth_init": ("LPLR exits (probe): he 5/5 (D=3,8), depth_aware 0/6; sharpness above 2 (Gauss-Newton or Hessian)",
                   "depth=8+init=he+seed=2: diverged at step 37",
                   "n = 2-3 of 3 runs", "entry step"),
    "sgd_noise": ("diverged at step", "claim threshold 0.8", "$B$ = 8", "(GD)", "rate/GD 0.889", "rate/GD 1.000", "critical batch"),
}


def _texts(fig) -> str:
    """Every text drawn in a figure: titles, labels, legends, notes."""
    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """The analysis tables of every synthetic experiment, written where the registry expects them."""
    root = tmp_path_factory.mktemp("results")
    for name, make in EXPERIMENTS.items():
        fit = SGD_FIT if name in ("cnn", "batch") else FIT
        for table, frame in analyse_experiment(make(), VARY[name], fit).items():
            write_csv(frame, root / TABLES[table].format(experiment=name))
    return root


@pytest.fixture(scope="module")
def drawn(tmp_path_factory, tables):
    """Every registered figure drawn once into one folder; (folder, {name: its text})."""
    folder, texts, real_save = tmp_path_factory.mktemp("figures"), {}, style.save

    def save(fig, path):
        texts[Path(path).stem] = _texts(fig)
        real_save(fig, path)

    with pytest.MonkeyPatch.context() as patch:
        for module in ("width", "init", "step", "sgd", "regimes", "depth", "noise"):
            patch.setattr(f"lplr.plots.{module}.save", save)
        for name in FIGURES:
            inputs = {t: str(tables / p) for t, p in figure_inputs(name).items()}
            draw_figure(name, inputs, folder / f"{name}.pdf", {"confidence": 0.95, "exit_fraction": 0.5})
    return folder, texts


def test_every_registered_figure_is_covered_and_reads_tables_only():
    assert set(EXPECTED_TEXT) == set(FIGURES)
    for name, figure in FIGURES.items():
        for path in figure_inputs(name).values():  # analysis tables, never a run's raw files
            assert path.startswith(("results/fits/", "results/tables/")), (name, path)
            assert "/train/" not in path and "/ntk/" not in path
        assert (Path(__file__).resolve().parents[1] / figure.caption).is_file(), f"{name}: no caption file"


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
    for expected in EXPECTED_TEXT[name]:
        assert expected in texts[name], f"{name}: {expected!r} not in the figure's text"


def test_no_temporaries_left(drawn):
    folder, _ = drawn
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.{ext}" for n in FIGURES for ext in ("pdf", "png"))


def test_a_level_whose_runs_all_diverged_is_noted_not_drawn(drawn):
    text = drawn[1]["step_size"]
    assert "lr=1.5,seed=0: diverged at step 37" in text and "lr = 1.5" not in text
    assert "lr = 0.5" in text and "lr = 0.1" in text  # the levels come from the run ids, not the per-seed eta


def test_figures_survive_runs_without_windows_or_probes(tables, monkeypatch):
    from lplr.plots import sgd, width

    texts = {}
    for module in (sgd, width):
        monkeypatch.setattr(module, "save", lambda fig, path: texts.update({Path(path).stem: _texts(fig)}))
    fits = pd.read_csv(tables / "results/fits/width/runs.csv")
    curves = {run: g for run, g in pd.read_csv(tables / "results/fits/width/curves.csv").groupby("run")}
    no_windows = fits.assign(has_window=False, t0=NAN, t1=NAN, rate=NAN, pl_slope=NAN, pl_envelope=NAN)
    sgd.cnn_sgd(no_windows, curves, "cnn_sgd.pdf")
    width.pl_ratio(fits, {}, "pl_ratio.pdf")
    width.ntk_stability(fits, {}, "ntk_stability.pdf")
    assert "no run with a spectrum" in texts["pl_ratio"]
    assert "no probed runs" in texts["ntk_stability"]
    assert texts["cnn_sgd"].count("no window") >= 8


# ------------------------------------------------------------------------------------------------
# the run explorer's panels (lplr.plots.run), from the same synthetic tables
# ------------------------------------------------------------------------------------------------

def _run_tables(tables, experiment_name: str, run: str):
    from lplr.notebooks import run_row

    runs = pd.read_csv(tables / TABLES["runs"].format(experiment=experiment_name))
    curves = pd.read_csv(tables / TABLES["curves"].format(experiment=experiment_name))
    probes = pd.read_csv(tables / TABLES["probes"].format(experiment=experiment_name))
    eigen = EXPERIMENTS[experiment_name]()[run]["eigen"]
    return (run_row(runs, run, "runs.csv"), curves[curves["run"] == run].reset_index(drop=True),
            probes[probes["run"] == run].reset_index(drop=True), eigen)


@pytest.mark.parametrize("experiment_name, run", [("width", "width=64+seed=0"), ("width", "width=128+seed=2"),
                                                  ("width", "width=32+seed=2"), ("cnn", "batch_size=8+seed=0")])
def test_run_panels_draw_the_run_from_its_tables(tables, experiment_name, run):
    """A run with a window, a diverged run, a run without a window, and an SGD run (loss every 10 steps)."""
    import matplotlib.pyplot as plt

    from lplr.plots import run as panels

    row, curve, probe, eigen = _run_tables(tables, experiment_name, run)
    assert len(curve) and len(probe)
    fig = panels.loss_and_gap(curve, row)
    assert fig.axes[0].get_yscale() == "log"
    assert ("window fit" in _texts(fig)) == bool(row["has_window"])
    fig = panels.pl_plane(curve, row)
    if row["has_window"]:
        assert f"$\\beta$ = {row['pl_slope']:.3g}" in _texts(fig)
    fig = panels.rates(curve, probe)
    assert "PL bound" in _texts(fig)
    # the PL bound is drawn from probes.csv as it is, not recomputed
    (bound,) = [line for line in fig.axes[0].lines if line.get_label().startswith("PL bound")]
    np.testing.assert_allclose(bound.get_ydata(), probe["pl_bound_rate"])
    fig = panels.kernel_over_checkpoints(probe, 0.5)
    assert len(fig.axes) == 3
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), probe["sharpness"])
    fig = panels.eigenvalue_spectra(eigen)
    lines = fig.axes[0].lines
    assert len(lines) == len(eigen["steps"])
    assert [np.nanmax(line.get_ydata()) for line in lines] == pytest.approx(np.max(eigen["eigenvalues"], axis=1))
    fig = panels.residual_shares(probe, eigen, 10)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), probe["share_top_k"])
    assert "top 10" in _texts(fig)
    fig = panels.drift_and_accuracy(curve)
    accuracy = curve["test_accuracy"].dropna()
    if len(accuracy):
        np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), accuracy)
    else:
        assert "no test accuracy recorded" in _texts(fig)
    plt.close("all")


def test_a_run_with_no_finite_loss_says_so(tables):
    from lplr.plots import run as panels

    row, curve, probe, eigen = _run_tables(tables, "width", "width=64+seed=0")
    broken = curve.assign(loss=np.nan, gap=np.nan, window_line=np.nan, linearised_loss=np.nan, test_loss=np.nan,
                          observed_rate=np.nan, first_order_rate=np.nan, local_linearised_rate=np.nan)
    assert "no finite positive loss" in _texts(panels.loss_and_gap(broken, row))
    assert "no finite gap and G" in _texts(panels.pl_plane(broken, row))
    assert "no finite rate" in _texts(panels.rates(broken, probe.assign(pl_bound_rate=np.nan)))


def test_an_unknown_run_is_refused_naming_the_table_and_its_runs(tables):
    from lplr.notebooks import run_row

    runs = pd.read_csv(tables / TABLES["runs"].format(experiment="step"))
    with pytest.raises(KeyError, match=r"fits/step/runs.csv has no run 'lr=9\+seed=0'; its runs: lr=1.5\+seed=0"):
        run_row(runs, "lr=9+seed=0", "results/fits/step/runs.csv")


def test_the_depth_figure_draws_the_summary_table_per_init(tables, monkeypatch):
    """Each depth x init point is the summary's estimate with its interval, shifted on the log axis, never recomputed."""
    from lplr.plots import depth

    figures = []
    monkeypatch.setattr(depth, "save", lambda fig, path: figures.append(fig))
    summary = pd.read_csv(tables / TABLES["summary"].format(experiment="depth"))
    runs = pd.read_csv(tables / TABLES["runs"].format(experiment="depth"))
    depth.depth_init(summary, runs, "depth_init.pdf", 0.95)
    (fig,) = figures
    (he,) = [c for c in fig.axes[0].containers if c.get_label() == "he"]  # mu_0, He: an errorbar container
    expected = summary[(summary["statistic"] == "mu_0") & (summary["init"] == "he")].sort_values("depth")
    np.testing.assert_allclose(np.asarray(he.lines[0].get_xdata(), float), expected["depth"] * depth.SHIFT["he"])
    np.testing.assert_allclose(np.asarray(he.lines[0].get_ydata(), float), expected["estimate"])
    assert fig.axes[0].get_yscale() == "log" and fig.axes[-1].get_yscale() == "linear"
