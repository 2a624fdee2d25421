"""The tiny config of the workflow tests and the plan tests: every experiment, seconds per job."""

import json


def tiny_config(default: dict) -> dict:
    config = json.loads(json.dumps(default))
    config["data"].update(n_train=40, n_test=40)
    config["training"].update(steps=150, checkpoints=5, metrics_block=64, resume_every=100)
    config["experiments"]["width"].update(vary={"width": [8, 16]}, seeds=[0, 1])
    config["experiments"]["width_calibrated"].update(vary={"width": [8, 16]}, seeds=[0])
    config["experiments"]["width_eos"].update(vary={"width": [8]}, seeds=[0])
    for name in ("init", "step"):  # every experiment once, at one seed
        config["experiments"][name].update(seeds=[0], training={"width": 8})
    config["experiments"]["step"]["conditions"] = [{"lr": 0.01, "steps": 150}, {"lr": 0.001, "steps": 300}]
    for name in ("cnn", "batch"):
        config["experiments"][name]["training"].update(width=2, depth=1)
        config["experiments"][name].update(seeds=[0])
    config["experiments"]["cnn"]["vary"] = {"batch_size": [8]}
    config["experiments"]["batch"]["vary"] = {"batch_size": ["full", 8]}
    # depth x init (beyond the paper): two depths and two seeds, so a trend over depth has an interval
    config["experiments"]["depth"].update(vary={"depth": [2, 3], "init": ["he", "depth_aware"]}, seeds=[0, 1],
                                          training={"width": 8, "steps": 150, "lr_mode": "calibrated", "lr": 0.2})
    config["experiments"]["sgd_noise"]["training"].update(width=8, steps=150, checkpoints=5)
    config["experiments"]["sgd_noise"].update(vary={"batch_size": ["full", 8]}, seeds=[0])
    # one run explorer, of a run E3 shares with E1: E1's width=8 run is E2's He run at lr 0.01 and E3's lr 0.01
    # at 150 steps; E1 owns it (lplr.plan.OWNER_ORDER), although tiny.yaml is written with sorted keys
    config["notebooks"] = {"runs": [f"step/{EXPLORED}"]}
    return config


EXPLORED = "lr=0.01+steps=150+seed=0"
