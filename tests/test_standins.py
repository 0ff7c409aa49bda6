"""The dry run: the paper profile with stand-ins is valid for every chapter, executes offline
(FID-Inception, DDIM-100 quad, the folder loader), and its book names what it replaced."""
import nbformat
import numpy as np
import pytest
import torch
import yaml

from diffprune import DiffpruneError, standins
from diffprune.book import chapters, toc
from diffprune.chapter import spec
from diffprune.cli import main
from diffprune.fid import INCEPTION_FILE


@pytest.fixture
def dry_env(monkeypatch):
    """dry_run points these at its folder; set here so that they are restored after the test."""
    for var in ("DIFFPRUNE_STUDY", "DIFFPRUNE_CACHE", "TORCH_HOME"):
        monkeypatch.setenv(var, "unset-by-the-test")


def test_the_paper_dry_run_is_valid_for_every_chapter_and_replaces_what_it_names(tmp_path):
    rows = standins.replacements("paper", tmp_path / "standins")
    values = {r.name: r.value for r in rows}
    for name in chapters():
        spec(name).load("paper", values)
    assert all(r.value != r.profile_value and r.why for r in rows)
    assert values["dataset"] == f"folder:{tmp_path / 'standins' / 'images'}"
    assert "{standins}" not in yaml.safe_dump(values)
    kept = yaml.safe_load((standins.PROFILE_DIR / "paper.yaml").read_text())
    for name in ("sampler", "ddim_steps", "spacing", "features", "ratio", "methods", "thresholds"):
        assert name not in values, f"the dry run must keep the paper's {name} ({kept[name]})"


def test_command_line_values_come_last_and_are_named(tmp_path):
    rows = {r.name: r for r in standins.replacements("paper", tmp_path, {"n_samples": 12, "n_boot": 5})}
    assert rows["n_samples"].value == 12 and rows["n_boot"].value == 5
    assert rows["n_boot"].profile_value == 200 and rows["n_boot"].why == "given on the command line"
    with pytest.raises(DiffpruneError, match="unknown parameter"):
        standins.replacements("paper", tmp_path, {"n_sample": 12})


def test_a_profile_without_a_dry_run_is_one_line_and_writes_nothing(tmp_path, capsys, dry_env):
    assert main(["book", "--profile", "cpu", "--dry-run", "--out", str(tmp_path / "dry")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has no dry run" in err and "paper" in err
    assert not (tmp_path / "dry").exists()


def test_stand_in_images_have_ten_classes_in_both_splits(tmp_path):
    from diffprune.data import load_dataset
    standins.write_images(tmp_path)
    train, test = (load_dataset(f"folder:{tmp_path}", split) for split in ("train", "test"))
    assert train.shape == (3, 32, 32) and len(train.classes) == 10 and train.classes == test.classes
    assert len(train) == 10 * standins.PER_CLASS["train"] and len(test) == 10 * standins.PER_CLASS["test"]
    again = tmp_path / "again"
    standins.write_images(again)
    assert torch.equal(load_dataset(f"folder:{again}", "test").images, test.images)  # deterministic


def test_inception_stand_in_links_real_weights_or_makes_spread_random_ones(tmp_path, monkeypatch):
    from diffprune import fid
    real = tmp_path / "real"
    (real / "checkpoints").mkdir(parents=True)
    (real / "checkpoints" / INCEPTION_FILE).write_bytes(b"the real file")
    assert "pytorch-fid's weights" in standins.inception_weights(tmp_path / "linked", real, None)
    assert (tmp_path / "linked" / "checkpoints" / INCEPTION_FILE).read_bytes() == b"the real file"

    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert "random weights" in standins.inception_weights(tmp_path / "hub", tmp_path / "none", images)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    feats = fid.features(images, "inception", progress=False)
    assert feats.shape == (4, 2048) and np.isfinite(feats).all()
    assert feats.std(axis=0).mean() > 1e-3  # BatchNorm calibrated: features are not vanishingly small


def test_the_paper_dry_run_executes_a_chapter_and_names_its_stand_ins(tmp_path, dry_env):
    teacher = {"dataset": "folder:{standins}/images", "preset": "tiny", "steps": 4, "batch_size": 8,
               "lr": 0.002, "seed": 0}
    rows = {r.name: r.value for r in standins.replacements("paper", tmp_path / "standins")}
    teacher["dataset"] = rows["dataset"]
    over = {"teacher": teacher, "n_samples": 8, "n_reference": 40, "classifier_epochs": 1}
    assert standins.dry_run("paper", over, tmp_path, chapters_to_run=["teachers"], build=False) is None
    book = tmp_path / "book"
    nb = nbformat.read(book / "chapters" / "teachers.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
    assert 'profile = "paper"' in next(c.source for c in nb.cells if "injected-parameters" in c.metadata["tags"])
    first = toc(book)["parts"][0]
    assert first["chapters"] == [{"file": standins.PAGE}]
    page = (book / f"{standins.PAGE}.md").read_text()
    assert "random weights" in page and "| n_samples | `50000` | `8` | given on the command line |" in page
    records = list((tmp_path / "study" / "fd").glob("*/record.json"))
    assert records and all("inception" in r.read_text() for r in records)  # the paper's FID path ran
    sampled = [yaml.safe_load(r.read_text())["params"] for r in (tmp_path / "study" / "sample").glob("*/record.json")]
    assert sampled and all(s["steps"] == 100 and s["spacing"] == "quad" for s in sampled)
