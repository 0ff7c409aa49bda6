"""What changing one parameter costs: for each chapter and each profile key it reads, the plan of the
chapter's work with that key changed (one more seed or threshold, a larger number), priced from the
recorded wall times on this device. Writes data/results/parameter_costs.json, which the Reproducing
page shows.

    .venv/bin/python benchmarks/parameter_costs.py [--profile cpu]
"""
from __future__ import annotations

import argparse
import time

from diffprune import plan
from diffprune.artifacts import code_version, device_description, write_json_atomic
from diffprune.book import chapters
from diffprune.paths import RESULTS_DIR


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--profile", default="cpu", help="the profile whose keys are changed one at a time")
    a = ap.parse_args()
    start = time.perf_counter()
    rows = plan.parameter_costs(a.profile, chapters())
    write_json_atomic(RESULTS_DIR / "parameter_costs.json", {
        "profile": a.profile, "rows": rows, "device": device_description(), "code_version": code_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_time_s": round(time.perf_counter() - start, 1)})
    for r in rows:
        print(f"{r['chapter']:<9} {r['parameter']:<22} -> {str(r['changed_to']):<24} {r['steps']:>5} steps "
              f"~ {plan.duration(r['seconds'])}")


if __name__ == "__main__":
    main()
