"""How long the `paper` profile's dry run takes here, and where the time goes (issue: past one
machine, part 3). Runs `python -m diffprune book --profile paper --dry-run` into a fresh folder
and writes data/results/dry_run_paper.json: the total wall time and, per study step, how many
artifacts it computed and their summed wall time (from their records). Run it alone.

    .venv/bin/python benchmarks/dry_run.py [--profile paper]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from diffprune.artifacts import code_version, device_description, write_json_atomic
from diffprune.paths import RESULTS_DIR
from diffprune.standins import dry_run
from diffprune.study import records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper", help="a profile with a dry-run file")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        dry_run(a.profile, {}, Path(tmp))
        total = time.perf_counter() - start
        steps = defaultdict(lambda: {"artifacts": 0, "wall_time_s": 0.0})
        for r in records():
            steps[r["step"]]["artifacts"] += 1
            steps[r["step"]]["wall_time_s"] = round(steps[r["step"]]["wall_time_s"] + r["wall_time_s"], 1)
    out = {"profile": a.profile, "command": f"python -m diffprune book --profile {a.profile} --dry-run",
           "total_s": round(total, 1), "steps": dict(sorted(steps.items())), "device": device_description(),
           "code_version": code_version(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json_atomic(RESULTS_DIR / f"dry_run_{a.profile}.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
