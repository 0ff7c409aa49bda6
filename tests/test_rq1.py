"""RQ1's control row: the teacher finetuned exactly as the pruned rows are, so that what pruning
costs is read against the teacher the same compute buys, not only against the teacher as it was."""
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
