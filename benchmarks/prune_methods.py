"""Every pruning method through the command line, as a user would run it (issue: foundation,
"done when"): `python -m diffprune prune` at ratio R on the committed teacher (multi-head
attention), then reload with `load_unet`, run a forward pass, sample, and check the report's
stop rule. Writes data/results/prune_methods.json.

    .venv/bin/python benchmarks/prune_methods.py [--ratio 0.3] [--stride 20] [--batch-size 32]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from diffprune import DiffusionModel
from diffprune.artifacts import code_version, device_description, write_json_atomic
from diffprune.importance import METHODS
from diffprune.paths import RESULTS_DIR
from diffprune.sample import sample
from diffprune.threshold import stop_index


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", default="data/teachers/fashion-mnist")
    ap.add_argument("--ratio", type=float, default=0.3)
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--stride", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in METHODS:
            out = Path(tmp) / method
            cmd = [sys.executable, "-m", "diffprune", "prune", "--model", a.teacher, "--method", method,
                   "--ratio", str(a.ratio), "--threshold", str(a.threshold), "--timestep-stride", str(a.stride),
                   "--batch-size", str(a.batch_size), "--dataset", "fashion-mnist", "--seed", str(a.seed),
                   "--out", str(out), "--quiet"]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            wall = time.perf_counter() - start
            report = json.loads((out / "prune_report.json").read_text())
            model = DiffusionModel.load(out)
            x = torch.randn(2, *model.unet_shape())
            with torch.no_grad():
                y = model.unet(x, torch.tensor([10, 900])).sample
            images = sample(model, 4, seed=a.seed, steps=10, progress=False)
            stop = stop_index(report["loss_t"], a.threshold) if method == "diff-pruning" else None
            rule_holds = (method != "diff-pruning" or
                          (stop is None and report["stop_t"] is None) or
                          (stop is not None and report["visited_t"][stop] == report["stop_t"]
                           and stop == len(report["loss_t"]) - 1))
            results[method] = {
                "macs_fraction": report["macs_fraction"], "params_fraction": report["params_fraction"],
                "forward_ok": y.shape == x.shape and bool(torch.isfinite(y).all()),
                "samples_shape": list(images.shape), "stop_t": report["stop_t"],
                "grad_timesteps": report["grad_timesteps"], "stop_rule_holds": rule_holds,
                "wall_time_s": round(wall, 1)}
            print(method, results[method])
    write_json_atomic(RESULTS_DIR / "prune_methods.json", {
        "params": vars(a), "results": results, "code_version": code_version(), "device": device_description()})


if __name__ == "__main__":
    main()
