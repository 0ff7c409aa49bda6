"""RQ1's control row: the teacher finetuned exactly as the pruned rows are, so that what pruning
costs is read against the same compute without pruning, not only against the teacher as it was."""
import pytest

import diffprune.study as diffprune_study
from diffprune import evaluation
from diffprune.chapters import rq1
from diffprune.models import pixel_model
from diffprune.unet import build_unet


@pytest.fixture
def p(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    teacher = str(pixel_model(build_unet("tiny", 1, 28, seed=0)).save(tmp_path / "teacher"))
    return rq1.CHAPTER.load("smoke", {"teacher": teacher, "more_teachers": [], "dataset": "mnist-5k"})


def test_the_control_row_is_its_own_model_beside_the_teacher_and_every_pruned_row(p, tmp_path):
    specs = rq1.row_specs(p)
    assert specs[:2] == [("pretrained", None, None), (rq1.CONTROL_LABEL, evaluation.CONTROL, None)]
    seed = p.seeds[0]
    models = {label: evaluation.row_model(p, m, t, seed) for label, m, t in specs}
    keys = [m.key for m in models.values()]
    assert len(set(keys)) == len(keys)  # no row shares its model with another
    control, teacher = models[rq1.CONTROL_LABEL], models["pretrained"]
    assert control.step == "finetune" and control.params["model"] == teacher.key
    pruned = [m for label, m in models.items() if label not in ("pretrained", rq1.CONTROL_LABEL)]
    # the same recipe as every pruned row's finetune, only the model differs
    recipe = {k: v for k, v in control.params.items() if k != "model"}
    assert all({k: v for k, v in m.params.items() if k != "model"} == recipe for m in pruned if m.step == "finetune")
    assert not (tmp_path / "study").exists()  # keys known without computing


def test_without_control_row_rq1_has_the_paper_s_rows_only(p):
    assert all(label != rq1.CONTROL_LABEL for label, *_ in rq1.row_specs(p.replace(control_row=False)))


def test_the_control_row_s_size_is_its_teacher_s_read_without_its_weights(p, tmp_path):
    import shutil

    from diffprune import pipeline
    control = evaluation.row_model(p.replace(finetune_steps=2), evaluation.CONTROL, None, p.seeds[0])
    # computed (a finetune of the unpruned teacher: no prune report), then as a fresh clone has it: no weights
    shutil.rmtree(control.path / "unet")
    with diffprune_study.recorded_only():
        assert pipeline.size(control) == pipeline.size(pipeline.teacher(p.teacher))


def _rows(label, fds):
    return [{"row": label, "seed": s, "fd": v, "samples": f"{label}-{s}"} for s, v in enumerate(fds)]


def test_the_control_is_read_against_its_teacher_and_a_loss_names_its_likely_reason(p):
    q = p.replace(teacher_steps=5000, finetune_steps=400)
    worse = rq1.control_reading([(q, _rows("pretrained", [100, 101, 99, 100]) + _rows(rq1.CONTROL_LABEL,
                                                                                    [110, 112, 109, 111]))])
    assert "worse" in worse and "moving average" in worse
    assert "last 46 steps" in worse and "last 557 of 5,000" in worse  # (10 + s) / 9 at s = 400 and 5,000
    alike = rq1.control_reading([(q, _rows("pretrained", [100, 101, 99, 100]) + _rows(rq1.CONTROL_LABEL,
                                                                                    [100.1, 100.9, 99.1, 99.9]))])
    assert "equivalent" in alike and "moving average" not in alike
    assert rq1.control_reading([(q, _rows("pretrained", [100, 101]))]) == "not run in this profile."


def test_a_run_s_weight_average_spans_few_steps_when_short_and_its_decay_s_bound_when_long():
    from diffprune.train import ema_span
    assert ema_span(400) == pytest.approx(410 / 9) and ema_span(10**7) == pytest.approx(1e4)
