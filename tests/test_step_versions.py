"""The study cache's one blind spot: a step's code changing while its `STEPS` version does not, so
old results are reused under a meaning they no longer have. Each step's defining functions are
hashed here beside the version they were last reviewed at; a change to one without the other fails."""
import hashlib
import inspect
import json
from pathlib import Path

from diffprune import pipeline
from diffprune.study import STEPS

REVIEWED = Path(__file__).with_name("step_sources.json")
DEFINED_BY = {  # the functions whose source says what each step computes
    "teacher": [pipeline.teacher, pipeline._trained_teacher, pipeline._hub_teacher, pipeline._train,
                pipeline._train_autoencoder, pipeline._config],
    "architecture": [pipeline.architecture],
    "prune": [pipeline.pruned, pipeline.pruned_in_window, pipeline._prune_into],
    "training_run": [pipeline.training_run, pipeline._recipe_model, pipeline.autoencoder_key, pipeline._train,
                     pipeline._config],
    "reconstruction": [pipeline.reconstructions, pipeline.autoencoder_key],
    "finetune": [pipeline.finetuned, pipeline._train, pipeline._config],
    "sample": [pipeline.samples, pipeline.save_preview],
    "classifier": [pipeline.classifier],
    "fd": [pipeline.fd],
    "paired_fd": [pipeline.paired_fd],
    "distances": [pipeline.distances],
    "consistency": [pipeline.consistency],
    "loss_curve": [pipeline.loss_curve, pipeline._importance_batch],
    "channel_scores": [pipeline.channel_scores, pipeline._walk, pipeline._importance_batch],
    "gradient_stages": [pipeline.gradient_stages, pipeline._walk, pipeline._importance_batch],
    "timing": [pipeline.timing],
}


def sources() -> dict[str, dict]:
    return {step: {"version": STEPS[step].version,
                   "source_sha256": hashlib.sha256("".join(inspect.getsource(f) for f in fns).encode()).hexdigest()}
            for step, fns in sorted(DEFINED_BY.items())}


def test_every_step_has_its_defining_functions_listed():
    assert set(DEFINED_BY) == set(STEPS)


def test_a_step_s_code_does_not_change_without_its_version_or_a_review():
    reviewed, now = json.loads(REVIEWED.read_text()), sources()
    changed = [s for s in now if now[s]["source_sha256"] != reviewed.get(s, {}).get("source_sha256")
               and now[s]["version"] == reviewed.get(s, {}).get("version")]
    assert not changed, (
        f"the code of step(s) {', '.join(changed)} changed under the same STEPS version: bump the version if "
        "what the step computes changed (old results are then recomputed), else record the review with "
        "`python tests/test_step_versions.py` (rewrites tests/step_sources.json)")


if __name__ == "__main__":
    REVIEWED.write_text(json.dumps(sources(), indent=1, sort_keys=True) + "\n")
