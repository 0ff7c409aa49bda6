"""The chapter framework: a chapter is a notebook, a spec module and profile keys; the book's
table of contents is the one list of chapters; every default lives in the profiles."""
import ast
import dataclasses
import pickle
from dataclasses import dataclass

import jupytext
import pytest

from diffprune import DiffpruneError, profiles
from diffprune.book import chapters, toc
from diffprune.chapter import Chapter, spec
from diffprune.paths import NOTEBOOKS, ROOT

EVERY = [*chapters(), "_template"]


def test_toc_is_in_parts_and_every_chapter_has_its_three_files():
    assert [part["caption"] for part in toc()["parts"]] == ["Setup", "Research questions", "For courses",
                                                             "Reproducing"]
    assert chapters() == ["teachers", "rq1", "rq2", "rq3", "ldm", "findings", "exercises"]
    for name in EVERY:
        assert (NOTEBOOKS / f"{name}.py").is_file() and (ROOT / "diffprune" / "chapters" / f"{name}.py").is_file()
        assert spec(name).name == name
    with pytest.raises(DiffpruneError, match="no spec module"):
        spec("no_such_chapter")


@pytest.mark.parametrize("name", EVERY)
def test_parameters_cell_names_only_the_profile_and_its_overrides(name):
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    assigned = {t.id: ast.literal_eval(node.value) for node in ast.parse(cells[0].source).body
                for t in node.targets}
    assert assigned == {"profile": "cpu", "overrides": {}}  # opened in Jupyter: the cpu profile
    first_code = next(c for c in nb.cells[nb.cells.index(cells[0]) + 1:] if c.cell_type == "code")
    assert ".CHAPTER.load(profile, overrides)" in first_code.source


def test_no_parameter_default_outside_the_profiles():
    names = set(profiles.PARAMETERS)
    for path in [*NOTEBOOKS.glob("*.py"), *(ROOT / "diffprune" / "chapters").glob("*.py")]:
        tree = ast.parse(path.read_text())
        assigned = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)}
        defaults = {a.arg for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                    for a in node.args.args[len(node.args.args) - len(node.args.defaults):]}
        assert not (assigned | defaults) & names, (path.name, (assigned | defaults) & names)


@pytest.mark.parametrize("profile", profiles.names())
def test_every_profile_gives_exactly_what_the_chapters_read(profile):
    wanted = set().union(*(spec(n).definitions() for n in EVERY))
    assert set(profiles.read(profile)) == wanted | {profiles.CHAPTER_VALUES}  # the one key Chapter.load reads
    for name in EVERY:
        spec(name).load(profile)  # every default passes its own check


def test_load_checks_each_value_with_its_definition():
    c = spec("rq1")
    with pytest.raises(DiffpruneError, match="unknown parameter"):
        c.load("smoke", {"ratoi": 0.5})
    with pytest.raises(DiffpruneError, match="ratio = 1.5 is invalid"):
        c.load("smoke", {"ratio": 1.5})
    with pytest.raises(DiffpruneError, match="methods .* is invalid: expected a list of pruning methods"):
        c.load("smoke", {"methods": ["l1"]})
    with pytest.raises(DiffpruneError, match="dataset .* is invalid"):
        c.load("smoke", {"dataset": "imagenet"})
    with pytest.raises(DiffpruneError, match="more_teachers"):
        c.load("smoke", {"more_teachers": ["data/teachers/no-such-teacher"]})
    p = c.load("smoke", {"ratio": 0.5})
    assert p.ratio == 0.5 and p.profile == "smoke" and set(p.values()) == {"profile", *c.parameters}
    with pytest.raises(DiffpruneError, match="unknown profile"):
        c.load("laptop")


def test_a_sweep_being_computed_names_known_parameters_at_values_they_accept():
    c = spec("exercises")
    assert c.load("smoke", {"computing": [{"control_row": True}, {"seeds": [0, 1]}]}).computing[1] == {"seeds": [0, 1]}
    moving = [{"chapter_values": {"rq1": {"finetune_steps": 1600, "control_row": True}}}]  # a chapter's new teacher
    assert c.load("smoke", {"computing": moving}).computing == moving
    for bad in ([{"ratoi": 0.5}], [{"ratio": 1.5}], [{}], [{"computing": []}], {"control_row": True},
                [{"chapter_values": {"rq1": {"ratio": 1.5}}}], [{"chapter_values": {"rq1": 3}}]):
        with pytest.raises(DiffpruneError, match="computing = .* is invalid: expected a list of sweeps"):
            c.load("smoke", {"computing": bad})


@dataclass(frozen=True)
class _Own:
    windows: list = profiles.parameter("a list of [a, b) windows", lambda v: isinstance(v, list))


def test_a_chapters_own_parameter_is_checked_by_its_own_definition(monkeypatch):
    c = Chapter("x", parameters=("ratio",), own=_Own)
    monkeypatch.setattr(profiles, "read", lambda name, overrides=None: {"ratio": 0.3, "windows": [],
                                                                        **(overrides or {})})
    assert c.load("any").windows == []
    with pytest.raises(DiffpruneError, match="windows = 3 is invalid: expected a list of"):
        c.load("any", {"windows": 3})
    monkeypatch.setattr(profiles, "read", lambda name, overrides=None: {"ratio": 0.3})
    with pytest.raises(DiffpruneError, match="lacks windows"):
        c.load("any")


def test_a_chapter_s_parameters_are_typed_frozen_and_only_those_it_names():
    c = spec("rq1")
    p = c.load("smoke")
    with pytest.raises(AttributeError):
        _ = p.content_k  # RQ2's own: RQ1 never named it
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.ratio = 0.5
    q = p.replace(ratio=0.45)  # a variant; the loaded object stays as it was
    assert q.ratio == 0.45 != p.ratio and q.seeds == p.seeds
    with pytest.raises(TypeError):
        p.replace(content_k=[100])
    # worker processes and Dask receive a chapter's jobs pickled: the class is rebuilt from its chapter
    assert pickle.loads(pickle.dumps(q)) == q and type(pickle.loads(pickle.dumps(q))) is type(p)


def test_a_page_shows_each_parameter_as_an_override_takes_it_back():
    p = spec("rq1").load("smoke")
    shown = profiles.table(p)["value"]
    for name, value in p.values().items():  # None, lists, dicts and paths alike: what -p NAME VALUE reads
        assert profiles.parse_override(shown[name]) == value, name
    assert shown["teacher_steps"] == "null"


def test_a_chapter_reads_its_own_values_in_place_of_the_profile_s_and_the_command_line_wins():
    own = {"rq1": {"finetune_steps": 7, "seeds": [3]}}
    rq1, rq2 = spec("rq1").load("smoke", {"chapter_values": own}), spec("rq2").load("smoke", {"chapter_values": own})
    base = spec("rq1").load("smoke")
    assert (rq1.finetune_steps, rq1.seeds) == (7, [3]) and rq1.ratio == base.ratio
    assert (rq2.finetune_steps, rq2.seeds) == (base.finetune_steps, base.seeds)  # another chapter: the profile's
    assert spec("rq1").load("smoke", {"chapter_values": own, "finetune_steps": 9}).finetune_steps == 9
    with pytest.raises(DiffpruneError, match="chapter_values.rq1 of profile smoke names content_k, which chapter rq1 "
                                             "does not read"):
        spec("rq2").load("smoke", {"chapter_values": {"rq1": {"content_k": [100]}}})
    with pytest.raises(DiffpruneError, match="no spec module"):
        spec("rq1").load("smoke", {"chapter_values": {"rq9": {}}})
    with pytest.raises(DiffpruneError, match="parameter chapter_values .* is invalid"):
        spec("rq1").load("smoke", {"chapter_values": {"rq1": 3}})
    with pytest.raises(DiffpruneError, match="parameter finetune_steps = 0 is invalid"):
        spec("rq1").load("smoke", {"chapter_values": {"rq1": {"finetune_steps": 0}}})


def test_every_parameter_has_a_type_and_a_doc():
    for cls in [profiles.Profile, *(spec(n).own for n in EVERY if spec(n).own)]:
        for f in dataclasses.fields(cls):
            assert f.type not in (None, "", dataclasses.MISSING), (cls, f.name)
            assert len(f.metadata["parameter"].doc) > 10, (cls, f.name)
            assert f.default is dataclasses.MISSING, (cls, f.name)  # defaults live in the profiles only


def test_checks_across_parameters_run_at_load():
    from diffprune.chapters import rq2
    assert rq2.CHAPTER.load("smoke", {"timestep_stride": 250}).content_k == [500, 1000]
    with pytest.raises(DiffpruneError, match=r"content_k \[500\] are not multiples of timestep_stride 200"):
        rq2.CHAPTER.load("smoke", {"timestep_stride": 200})


def test_other_teachers_leave_out_the_study_teacher():
    from diffprune.evaluation import other_teachers
    p = spec("rq1").load("smoke", {"teacher": "data/teachers/openmoji-32", "dataset": "openmoji-32",
                                   "teacher_steps": 4000,
                                   "more_teachers": ["data/teachers/openmoji-32/", "data/teachers/fashion-mnist"]})
    others = other_teachers(p)
    assert [(q.teacher, q.dataset, q.teacher_steps) for q in others] == [
        ("data/teachers/fashion-mnist", "fashion-mnist", None)]
    assert len(other_teachers(p.replace(teacher={"dataset": "mnist-5k"}))) == 2


def test_the_exercises_page_has_one_section_per_exercise_titled_as_its_data():
    # the headings are the notebook's markdown (so the page's contents list them); the bodies are glued
    import re

    from diffprune.chapters.exercises import EXERCISES
    from diffprune.paths import NOTEBOOKS
    for page in ("exercises.py", "solutions.py"):  # the solutions page mirrors them
        headings = re.findall(r"^# ## (\d+)\. (.+)$", (NOTEBOOKS / page).read_text(), flags=re.M)
        assert headings == [(str(i), e.title) for i, e in enumerate(EXERCISES, 1)], page
