"""`make lab`: JupyterLab starts on the repository, on the loopback only, and serves a chapter's
jupytext source as a notebook."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from diffprune.paths import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str):
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_lab_serves_a_chapter_as_a_notebook_on_the_loopback(tmp_path):
    port, token = _free_port(), "diffprune-test"
    env = {**os.environ, "JUPYTER_TOKEN": token, "HOME": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "diffprune", "lab", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _get(f"http://127.0.0.1:{port}/api/status", token)
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
                time.sleep(0.5)
        nb = _get(f"http://127.0.0.1:{port}/api/contents/notebooks/rq1.py?type=notebook&content=1", token)
        assert nb["type"] == "notebook"
        sources = ["".join(c["source"]) for c in nb["content"]["cells"]]
        assert any("parameters" in c["metadata"].get("tags", []) for c in nb["content"]["cells"])
        assert any("rq1.CHAPTER.load(profile, overrides)" in s for s in sources)
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert listening and all("127.0.0.1:" in line for line in listening.splitlines())  # loopback only
    finally:
        server.terminate()
        server.wait(timeout=30)
