"""RQ3's training step: what each lever does to the seconds of one training step on a CPU, and
whether the fastest changes what a finetune learns — the rule that licenses a lever, written before
its numbers: adopted only if RQ1's Diff-Pruning finetune at that precision is *equivalent* to fp32's,
paired by seed, on FD and on SSIM to the teacher, within the profile's margins.

From the records of `benchmarks/train_levers.py` and `benchmarks/train_precision.py`
(`data/results/`); the chapter computes nothing here.
"""
from __future__ import annotations

import json

from .. import verdicts
from ..artifacts import device_words, listed
from ..chapter import Parameters
from ..paths import RESULTS_DIR

LEVERS = RESULTS_DIR / "train_levers.json"
PRECISION = RESULTS_DIR / "train_precision_bf16.json"


def _read(path):
    return json.loads(path.read_text()) if path.is_file() else None


def levers_table(r: dict):
    import pandas as pd
    table = pd.DataFrame({
        "s / step": {x["lever"]: f"{x['seconds_per_step']:.3f}" for x in r["levers"]},
        "speed-up over fp32 (range over rounds)": {
            x["lever"]: f"{x['speedup']:.2f}× ({x['speedup_low']:.2f}–{x['speedup_high']:.2f})" for x in r["levers"]}})
    table.index.name = "lever"
    return table


def operators_table(r: dict):
    """Self CPU milliseconds per step of the operators that take the most time, per precision."""
    import pandas as pd
    ops = r.get("operators_seconds_per_step", {})
    names = list(dict.fromkeys(k for v in ops.values() for k in v))
    table = pd.DataFrame({lever: {k: "–" if k not in v else f"{1e3 * v[k]:.0f}" for k in names}
                          for lever, v in ops.items()})
    table.index.name = "operator (ms of self CPU time per step)"
    return table


def precision_verdicts(r: dict, margins: dict) -> list[verdicts.Verdict]:
    """bf16 against fp32 on FD and SSIM, paired by seed."""
    rows = r["rows"]
    lever = next(k for k in rows if k != "fp32")
    return [verdicts.across_seeds(rows[lever], rows["fp32"], metric, margins, a=f"finetune in {lever}",
                                  b="finetune in fp32", where=r.get("profile", "")) for metric in ("fd", "ssim")]


def section(p: Parameters) -> dict | None:
    """The levers' table, the operator breakdown, the precision verdicts and the decision (None
    before the levers benchmark has run)."""
    levers = _read(LEVERS)
    if levers is None:
        return None
    precision = _read(PRECISION)
    found = precision_verdicts(precision, p.equivalence_margins) if precision else []
    adopted = bool(found) and all(v.kind is verdicts.Kind.EQUIVALENT for v in found)
    worse = [v.metric.upper() if v.metric == "fd" else v.metric for v in found if v.kind is verdicts.Kind.WORSE]
    decision = ("bf16 is adopted for the study's training." if adopted else
                f"bf16 is **not** adopted: its finetunes are worse than fp32's on {listed(worse)}, so the study "
                "trains in fp32." if worse else
                "bf16 is **not** adopted: equivalence to fp32 was not shown, so the study trains in fp32.")
    loop = levers["train_loop_seconds_per_step"]
    return {"levers": levers_table(levers), "operators": operators_table(levers), "found": found,
            "verdicts": verdicts.table(found) if found else None, "adopted": adopted, "decision": decision,
            "loop_fp32": loop["fp32"], "loop_bf16": loop["bf16"], "loop_speedup": levers["train_loop_speedup_bf16"],
            "device": device_words(levers["device"]), "batch": levers["batch"], "threads": levers["threads"],
            "seeds": precision["seeds"] if precision else []}
