"""A latent diffusion model through the study's steps, and the DDPM-versus-LDM chapter's checks."""
import pytest

from diffprune import DiffpruneError, evaluation, pipeline, verdicts
from diffprune import study as diffprune_study
from diffprune.chapters import ldm

LDM = {"dataset": "openmoji-32", "preset": "tiny", "steps": 2, "batch_size": 8, "lr": 1e-3, "seed": 0,
       "autoencoder": {"preset": "tiny", "steps": 2, "batch_size": 8, "lr": 1e-3, "seed": 0}}
WEIGHTS = "vqvae/diffusion_pytorch_model.safetensors"


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    return tmp_path / "study"


def test_a_latent_teacher_is_pruned_finetuned_and_sampled_with_its_autoencoder_unchanged(study):
    import numpy as np

    from diffprune.unet import load_unet
    t = pipeline.teacher(LDM)
    assert load_unet(t.path).config.in_channels == 4  # the UNet learns 4x8x8 latents of 3x32x32 images
    pruned = pipeline.pruned(t, method="diff-pruning", ratio=0.3, seed=0, timestep_stride=250, batch_size=4,
                             dataset="openmoji-32")
    tuned = pipeline.finetuned(pruned, dataset="openmoji-32", steps=2, batch_size=4, lr=1e-3, warmup_steps=0, seed=0)
    for m in (pruned, tuned):
        assert (m.path / WEIGHTS).read_bytes() == (t.path / WEIGHTS).read_bytes()
    assert pipeline.size(pruned)["params"] < pipeline.size(t)["params"]
    images = pipeline.samples(tuned, n=3, seed=0, steps=2).preview()
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8  # decoded, not latents
    curve = pipeline.loss_curve(t, dataset="openmoji-32", n_batches=1, batch_size=4, stride=500, seed=0)
    assert len(curve.result("loss_curve.json")["loss"][0]) == 2
    timing = pipeline.timing(t, batch_size=2, threads=1, repeats=5, device="cpu").result("timing.json")
    assert timing["decode"]["seconds_per_batch"] > 0  # a latent model's sample ends with a decode


def test_the_teacher_key_covers_its_autoencoder(study):
    import shutil

    from safetensors.torch import load_file, save_file
    d = pipeline.teacher(LDM).path
    copy = study.parent / "copy"
    shutil.copytree(d, copy)
    key = pipeline.teacher(str(copy)).key
    weights = load_file(copy / WEIGHTS)
    name = next(iter(weights))
    weights[name] = weights[name] + 1
    save_file(weights, copy / WEIGHTS)
    assert pipeline.teacher(str(copy)).key != key  # another decoder: other samples, another key


def test_the_latent_recipe_trains_on_the_teacher_s_autoencoder_keyed_by_it_alone(study, monkeypatch):
    import shutil

    import numpy as np

    from diffprune.unet import load_unet
    t = pipeline.teacher(LDM)
    recipe = {"dataset": "openmoji-32", "preset": "tiny", "batch_size": 4, "lr": 1e-3, "warmup_steps": 0, "seed": 0}
    run = pipeline.training_run(recipe, steps=3, passing=(1,), autoencoder=t)
    assert (run.path / WEIGHTS).read_bytes() == (t.path / WEIGHTS).read_bytes()  # carried byte for byte
    assert load_unet(run.path).config.in_channels == 4 and run.result("cost.json")["steps"] == 3
    # a new UNet beside the same autoencoder: the same run, the same key
    other = study.parent / "other"
    shutil.copytree(t.path, other)
    shutil.rmtree(other / "unet")
    shutil.copytree(pipeline.training_run(recipe, steps=1, autoencoder=t).path / "unet", other / "unet")
    again = pipeline.teacher(str(other))
    assert again.key != t.key and pipeline.training_run(recipe, steps=3, passing=(1,), autoencoder=again).key == run.key
    with pytest.raises(DiffpruneError, match="no autoencoder"):
        pipeline.training_run(recipe, steps=1, autoencoder=pipeline.teacher("data/teachers/openmoji-32"))
    floor = pipeline.reconstructions(t, dataset="openmoji-32", split="train", n=5, seed=0)
    images, index = pipeline.load_full_samples(floor)
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8 and len(set(index.tolist())) == 5
    assert pipeline.reconstructions(again, dataset="openmoji-32", split="train", n=5, seed=0).key == floor.key
    # its size is read without its weights (a fresh clone has none): the recipe's architecture
    from diffprune.cost import count_macs, count_params
    weights = load_unet(run.path)
    shutil.rmtree(run.path / "unet")
    monkeypatch.setattr(diffprune_study, "_compute", None)  # any computation would fail
    monkeypatch.setattr(diffprune_study, "_regenerate", None)
    assert pipeline.size(run) == {"params": count_params(weights), "macs": count_macs(weights)}
    assert not (study / "training_run" / run.key / "unet").exists()


def test_the_chapter_needs_a_pixel_teacher_of_the_same_data_set(study):
    from diffprune.chapter import spec
    c = spec("ldm")
    with pytest.raises(DiffpruneError, match="trained on openmoji-32, but neither teacher nor more_teachers"):
        c.load("smoke", {"more_teachers": []})
    with pytest.raises(DiffpruneError, match="parameter ldm_teacher .* invalid"):
        c.load("smoke", {"ldm_teacher": "data/teachers/openmoji-32"})  # a pixel-space model
    p = c.load("smoke")
    kinds = ldm.kinds(p)
    assert kinds["DDPM"].teacher == "data/teachers/openmoji-32" and kinds["LDM"].teacher == p.ldm_teacher
    assert kinds["LDM"].seeds == p.ldm_seeds and kinds["LDM"].thresholds == p.ldm_thresholds


@pytest.mark.parametrize("ldm_steps, pixel_finetune, expected", [(8000, 400, 800), (2000, 400, 200), (30, 5, 1)])
def test_the_latent_rows_finetune_the_same_share_of_their_teacher_s_training(study, ldm_steps, pixel_finetune,
                                                                           expected):
    from diffprune.chapter import spec
    p = spec("ldm").load("smoke", {"finetune_steps": pixel_finetune,
                                   "ldm_teacher": {**LDM, "steps": ldm_steps}})
    kinds = ldm.kinds(p)  # the pixel teacher, data/teachers/openmoji-32, trained 4,000 steps
    assert pipeline.teacher_steps(pipeline.teacher(kinds["DDPM"].teacher)) == 4000
    assert kinds["DDPM"].finetune_steps == pixel_finetune and kinds["LDM"].finetune_steps == expected


def _speed_rows(ratios):
    """Rows of rounds in which the DDPM's prune is `ratios[0][i]`× and the LDM's `ratios[1][i]`× faster."""
    rows = []
    for kind, teacher_s, speedups in (("DDPM", 0.1, ratios[0]), ("LDM", 0.01, ratios[1])):
        for model, own in (("teacher", [teacher_s] * len(speedups)), ("diff-pruning T=0.05",
                                                                      [teacher_s / x for x in speedups])):
            rows.append({"kind": kind, "model": model, "unet_s": own[0], "decode_s": 0.0, "sample_s": own[0],
                         "batch": 64, "machine": "cpu", "load": 0.5,
                         **evaluation.paired_speedup([teacher_s] * len(speedups), own)})
    return rows


def test_the_speed_up_pairs_rounds_and_calls_a_spread_across_one_undistinguished():
    s = evaluation.paired_speedup([1.2, 2.6, 1.1], [1.0, 2.0, 1.0])  # a slow round hits both models
    assert s["speedup"] == pytest.approx(1.2)
    assert [s["speedup_lo"], s["speedup_hi"]] == pytest.approx([1.1, 1.3])
    rows = _speed_rows([(1.2, 1.3, 1.1), (0.8, 1.1, 1.0)])
    pruned = {r["kind"]: r for r in rows if r["model"] != "teacher"}
    assert pruned["DDPM"]["speedup"] == pytest.approx(1.2) and pruned["LDM"]["speedup"] == pytest.approx(1.0)
    assert ldm.speed_kind(pruned["DDPM"]) is verdicts.Kind.BETTER  # faster in every round
    assert ldm.speed_kind(pruned["LDM"]) is verdicts.Kind.INCONCLUSIVE  # rounds on both sides of 1x
    slower = next(r for r in _speed_rows([(1.2,), (0.9,)]) if r["kind"] == "LDM" and r["model"] != "teacher")
    assert ldm.speed_kind(slower) is verdicts.Kind.WORSE
    import pandas as pd
    summary = pd.DataFrame({"row": ["pretrained", "diff-pruning T=0.05"], "sampling_macs": [100, 80]})
    result = {kind: {"summary": summary} for kind in ldm.KINDS}
    bounds = ldm.macs_bounds(rows, result)
    assert bounds[("DDPM", "diff-pruning T=0.05")] == pytest.approx(1.25) and bounds[("LDM", "teacher")] == 1.0
    table = ldm.speed_table(rows, bounds)
    assert list(table["against the teacher"]) == ["–", "better", "–", "inconclusive"]
    assert list(table["MACs bound"]) == ["–", "1.25×", "–", "1.25×"]
    said = ldm.above_bound(rows, bounds)  # the DDPM's 1.3x round exceeds 1.25x, the LDM's 1.1x does not
    assert "DDPM's diff-pruning T=0.05: up to 1.30× against 1.25×" in said and "LDM" not in said
    assert ldm.above_bound(rows, ldm.macs_bounds(rows, {k: {"summary": summary.assign(sampling_macs=[100, 50])}
                                                        for k in ldm.KINDS})).startswith("No round")
    t = ldm.teachers_speed(rows)
    assert t["ldm_faster"] == pytest.approx(10.0) and t["DDPM_ms"] == pytest.approx(100.0)


def test_a_stop_t_moves_only_beyond_the_curves_stride():
    assert [ldm.stop_move(a, b, 10) for a, b in [(300, 320), (300, 280), (300, 310), (None, None), (300, None)]] == [
        "later on latents", "earlier on latents", "within the stride", "within the stride", "never on one kind"]


def test_the_stop_table_shows_where_each_kind_s_pruned_models_stopped_beside_the_mean_curve():
    from diffprune.chapters import ldm
    curve = {"t": [0, 10, 20, 30], "loss": [[1.0, 0.5, 0.2, 0.1], [1.0, 0.5, 0.2, 0.1]]}
    rows = [{"method": "diff-pruning", "threshold": 0.05, "stop_t": t} for t in (30, 10, 20)]
    rows += [{"method": "magnitude", "threshold": None, "stop_t": None},
             {"method": "diff-pruning", "threshold": 0.5, "stop_t": None}]
    result = {"DDPM": {"rows": rows}, "LDM": {"rows": rows[:1]}}
    pruned = ldm.pruned_stops(result)
    assert pruned == {"DDPM": {0.05: [30, 10, 20], 0.5: [None]}, "LDM": {0.05: [30]}}
    table = ldm.stop_table({"DDPM": curve, "LDM": curve}, [0.05, 0.2, 0.5], 10, pruned)
    assert table["pruned models' stop t, DDPM (3 seeds)"].tolist() == ["10–30", "–", "never"]
    assert table["pruned models' stop t, LDM (1 seed)"].tolist() == ["30", "–", "–"]
    plain = ldm.stop_table({"DDPM": curve, "LDM": curve}, [0.05, 0.2, 0.5], 10)
    assert table[plain.columns].equals(plain)  # the mean curve's columns are unchanged


def test_the_parameter_table_names_the_page_s_pixel_teacher_once_as_its_teacher():
    from diffprune.chapters import ldm
    p = ldm.CHAPTER.load("smoke")
    shown = ldm.shown_parameters(p)
    pixel = ldm.kinds(p)["DDPM"].teacher
    assert shown.teacher == pixel and pixel not in shown.more_teachers
    assert ldm.kinds(shown)["DDPM"].teacher == pixel  # passed back with -p, the page runs the same rows
    table = ldm.parameter_table(p)
    assert "teacher" in table.index and not set(ldm.SET_HERE) & set(table.index)  # set by the chapter: not shown


def test_the_page_says_when_its_two_teachers_are_not_trained_alike(monkeypatch):
    from diffprune.chapters import ldm
    p = ldm.CHAPTER.load("smoke")
    improving = {"from": 4000, "to": 8000, "change": -0.2, "readable": True, "reached": False, "capped": False}
    reached = {**improving, "change": -0.01, "reached": True}
    monkeypatch.setattr(ldm, "learning_row", lambda q, s: {})
    monkeypatch.setattr(ldm, "plateau", lambda rows: reached)  # the LDM's curve
    monkeypatch.setattr(ldm.teachers, "convergence", lambda q: improving)  # the pixel teacher's
    text = ldm.teachers_trained(p, {})
    assert text.startswith("The DDPM teacher's recipe is still improving (-20.0 % from 4,000 to 8,000 steps)")
    assert "not trained alike" in text
    monkeypatch.setattr(ldm.teachers, "convergence", lambda q: reached)
    assert ldm.teachers_trained(p, {}).endswith("both are trained to the same rule.")

    def unrecorded(q):
        raise ldm.study.NotRecorded("training_run")
    monkeypatch.setattr(ldm.teachers, "convergence", unrecorded)  # read, never trained for this page
    assert ldm.teachers_trained(p, {}).startswith("The DDPM teacher's recipe is not measured")


def test_the_learning_table_names_the_run_adopted_as_the_teacher():
    from diffprune.chapters import ldm
    fd = {"fd_low": 300.0, "fd_high": 330.0}
    section = {"teacher": {"fd": 316.1, **fd}, "unet_params": 1_110_000, "trained": 40_000,
               "rows": [{"steps": 30_000, "fd": 324.5, "params": 1_110_000, **fd},
                        {"steps": 40_000, "fd": 316.1, "params": 1_110_000, **fd}],
               "floor": {"value": 188.0, "ci_low": 185.0, "ci_high": 191.0}}
    table = ldm.learning_table(section)
    assert list(table.index[1:3]) == ["ldm_recipe, retrained", "ldm_recipe, retrained (the run adopted as the teacher)"]
    assert table["change"].iloc[2] == "-2.6%"
