import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_pins_agree_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = set(project["dependencies"]) | {d for ds in project["optional-dependencies"].values() for d in ds}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {p for p in pip if not p.startswith("-e")} == pyproject
    assert "python=3.11" in env["dependencies"]
    assert all("==" in d for d in pyproject), "every dependency is pinned"


def test_readme_commands_are_make_targets():
    readme = (ROOT / "README.md").read_text()
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    commands = re.findall(r"^make ([a-z-]+)$", readme, re.M)
    assert commands and set(commands) <= targets
    assert "make test" in (ROOT / ".ci" / "run").read_text()
