"""An offline bundle installs into a fresh virtual environment with no package index."""
import json
import subprocess
import sys

import pytest

from diffprune.bundle import data_files
from diffprune.cli import main
from diffprune.paths import ROOT


def test_a_small_bundle_installs_with_no_index_and_carries_the_data_sets(tmp_path, capsys):
    (tmp_path / "req.txt").write_text("# one small pinned dependency stands in for all of them\ntqdm==4.70.1\n")
    out = tmp_path / "bundle"
    if main(["bundle", "--out", str(out), "--requirements", str(tmp_path / "req.txt")]) != 0:
        err = capsys.readouterr().err
        assert not out.exists()  # nothing half-written
        pytest.skip(f"no package index reachable to build a bundle from: {err.strip()}")
    assert json.loads(capsys.readouterr().out)["out"] == str(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["data"]) == set(data_files()) and any("fashion-mnist" in rel for rel in manifest["data"])
    for rel, src in data_files().items():
        assert (out / "data" / rel).read_bytes() == src.read_bytes()

    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index", "--find-links",
           str(out / "wheels")]
    subprocess.run([*pip, "-r", str(out / "requirements.txt")], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True, cwd=tmp_path)
    where = "import importlib.util, tqdm; print(importlib.util.find_spec('diffprune').origin)"  # without torch
    found = subprocess.run([str(venv / "bin" / "python"), "-c", where], capture_output=True, text=True, check=True,
                           cwd=tmp_path)
    assert found.stdout.strip() == str(ROOT / "diffprune" / "__init__.py")  # the checkout, editable: its data/

    assert main(["bundle", "--out", str(out), "--no-data"]) == 2  # never over an existing bundle
    assert "already exists" in capsys.readouterr().err
