"""The inference levers: each changes how the UNet's forward runs, not what it computes beyond a
stated rounding; each is checked for the device, recorded where it is not the default, and undone."""
import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import Attention

from diffprune import DiffpruneError, pipeline
from diffprune.cli import main
from diffprune.levers import Levers, applied
from diffprune.models import pixel_model
from diffprune.sample import sample
from diffprune.unet import build_unet

TOLERANCE = {  # max |difference| of the predicted noise against fp32 (unit-variance outputs)
    Levers(channels_last=True): 1e-4,
    Levers(precision="bf16"): 0.1,  # bf16 keeps 8 bits of mantissa: about 2 decimal digits
    Levers(compile=True): 1e-4,
}


@pytest.fixture(scope="module")
def unet():
    return build_unet("tiny", 1, 16, seed=0).eval()


@pytest.mark.parametrize("levers", list(TOLERANCE), ids=lambda lv: lv.describe())
def test_each_lever_predicts_the_noise_fp32_does_within_its_tolerance(unet, levers):
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0, 250, 500, 999])
    processors = [m.processor for m in unet.modules() if isinstance(m, Attention)]
    with torch.no_grad():
        plain = unet(x, t).sample
        with applied(unet, levers, "cpu") as forward:
            out = forward(x, t)
    assert out.dtype == torch.float32 and out.shape == plain.shape
    assert (out - plain).abs().max() <= TOLERANCE[levers]
    # undone: the model's own processors and layout are back
    assert [m.processor for m in unet.modules() if isinstance(m, Attention)] == processors
    assert unet.conv_in.weight.is_contiguous()


def test_sampling_under_a_lever_stays_near_the_plain_samples_and_is_keyed_apart(unet, tmp_path, monkeypatch):
    model = pixel_model(unet)
    plain = sample(model, 4, steps=5, progress=False).astype(int)
    fast = sample(model, 4, steps=5, levers=Levers(precision="bf16"), progress=False).astype(int)
    assert np.abs(fast - plain).mean() < 4  # grey levels, out of 255
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    t = pipeline.teacher(str(model.save(tmp_path / "m")))
    default = pipeline.samples(t, n=4, seed=0, steps=5)
    assert "levers" not in default.params  # the plain forward keeps the keys of earlier sample sets
    assert default.key == pipeline.samples(t, n=4, seed=0, steps=5, levers=Levers()).key
    bf16 = pipeline.samples(t, n=4, seed=0, steps=5, levers=Levers(precision="bf16"))
    assert bf16.params["levers"] == {"precision": "bf16"} and bf16.key != default.key


@pytest.mark.parametrize("levers, message", [
    (Levers(precision="fp8"), "precision must be one of fp32, bf16, fp16"),
    (Levers(precision="fp16"), "fp16 autocast is a GPU lever"),
    (Levers(cudnn_benchmark=True), "cudnn-benchmark is a GPU lever"),
])
def test_a_lever_that_cannot_work_here_is_one_clear_error(levers, message):
    with pytest.raises(DiffpruneError, match=message):
        levers.check("cpu")


def test_sample_cli_refuses_a_gpu_lever_on_the_cpu_and_records_its_levers(unet, tmp_path, capsys):
    d = pixel_model(unet).save(tmp_path / "m")
    code = main(["sample", "--model", str(d), "--n", "2", "--steps", "2", "--precision", "fp16",
                 "--out", str(tmp_path / "x.npz"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "fp16 autocast is a GPU lever" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()
    assert main(["sample", "--model", str(d), "--n", "2", "--steps", "2", "--precision", "bf16", "--channels-last",
                 "--out", str(tmp_path / "y.npz"), "--quiet"]) == 0
    from diffprune.sample import load_samples
    assert load_samples(tmp_path / "y.npz")[2]["precision"] == "bf16"
    assert load_samples(tmp_path / "y.npz")[2]["channels_last"] is True


def test_a_timing_under_levers_records_them_and_the_plain_one_does_not(unet):
    from diffprune.cost import throughput
    timed = throughput(unet, 2, 2, levers=Levers(precision="bf16", channels_last=True))
    assert timed["levers"] == {"precision": "bf16", "channels_last": True} and timed["seconds_per_batch"] > 0
    assert "levers" not in throughput(unet, 2, 2)
