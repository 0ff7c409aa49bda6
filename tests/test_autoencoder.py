"""The LDM's autoencoder: a diffusers VQModel trained resumably, its latents at unit variance, and
what it writes usable by diffusers' LDMPipeline."""
import json
import signal

import numpy as np
import pytest
import torch

from diffprune import DiffpruneError
from diffprune.autoencoder import build_autoencoder, decode, encode, load_autoencoder, train_autoencoder
from diffprune.cli import main
from diffprune.data import load_dataset
from diffprune.train import TrainConfig
from diffprune.unet import build_unet, default_scheduler


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist-5k", "train").images[:64], load_dataset("mnist-5k", "test").images[:16]


def _train(out, steps, digits, **kw):
    cfg = TrainConfig(steps=steps, batch_size=8, lr=1e-3, warmup_steps=0, checkpoint_every=2, log_every=1)
    return train_autoencoder(build_autoencoder("tiny", 1, 28, seed=0), *digits, cfg, out, progress=False, **kw)


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, digits):
    whole = _train(tmp_path / "whole", 4, digits)
    _train(tmp_path / "parts", 2, digits)
    resumed = _train(tmp_path / "parts", 4, digits)
    a, b = whole.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = (tmp_path / "parts" / "vqvae" / "train_log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in log[1:]] == ["1", "2", "3", "4"]
    with pytest.raises(DiffpruneError, match="other parameters"):
        _train(tmp_path / "parts", 5, digits, run_info={"dataset": "another"})


def test_a_signal_stops_the_autoencoder_after_a_checkpoint_and_the_run_resumes_unchanged(tmp_path, digits,
                                                                                         monkeypatch):
    import diffprune.autoencoder as autoencoder_mod
    whole = _train(tmp_path / "whole", 4, digits)
    calls = {"n": 0}
    real = autoencoder_mod.to_model_range

    def interrupt_during_step_3(x):
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(signal.SIGINT)
        return real(x)

    monkeypatch.setattr(autoencoder_mod, "to_model_range", interrupt_during_step_3)
    with pytest.raises(KeyboardInterrupt, match="stopped at step 3"):  # checkpoints are every 2 steps
        _train(tmp_path / "parts", 4, digits)
    assert calls["n"] == 3
    monkeypatch.setattr(autoencoder_mod, "to_model_range", real)
    resumed = _train(tmp_path / "parts", 4, digits)
    a, b = whole.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_latents_are_a_quarter_of_the_side_at_unit_variance_and_decode_to_images(tmp_path, digits):
    _train(tmp_path / "ae", 2, digits)
    vqvae = load_autoencoder(tmp_path / "ae")
    z = encode(vqvae, digits[0])
    assert z.shape == (64, 4, 7, 7)
    assert abs(float(z.std()) - 1) < 0.2  # scaled on a 512-image draw of the training set: all 64 here
    x = decode(vqvae, z[:4])
    assert x.dtype == torch.uint8 and x.shape == (4, 1, 28, 28)
    cost = json.loads((tmp_path / "ae" / "vqvae" / "cost.json").read_text())  # its records beside its weights
    assert cost["latent_shape"] == [4, 7, 7] and cost["reconstruction_test"]["n"] == 16
    assert (tmp_path / "ae" / "vqvae" / "reconstructions.png").is_file()
    assert load_autoencoder(tmp_path) is None  # no vqvae/: a pixel-space model


def test_stored_in_half_precision_and_measured_as_stored(tmp_path, digits):
    from safetensors.torch import load_file

    from diffprune.autoencoder import reconstruction
    returned = _train(tmp_path / "ae", 2, digits)
    stored = load_file(tmp_path / "ae" / "vqvae" / "diffusion_pytorch_model.safetensors")
    assert {t.dtype for t in stored.values()} == {torch.float16}
    loaded = load_autoencoder(tmp_path / "ae")
    assert next(loaded.parameters()).dtype == torch.float32
    a, b = returned.state_dict(), loaded.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # what was measured is what is stored
    cost = json.loads((tmp_path / "ae" / "vqvae" / "cost.json").read_text())
    assert cost["reconstruction_test"] == reconstruction(loaded, digits[1])
    assert not (tmp_path / "ae" / "checkpoint").exists()  # its checkpoint leaves checkpoint/ to the UNet's run


def test_diffusers_ldm_pipeline_decodes_a_latent_unet_through_it(tmp_path, digits):
    from diffusers import DDIMScheduler, LDMPipeline
    _train(tmp_path / "ae", 2, digits)
    vqvae = load_autoencoder(tmp_path / "ae")
    unet = build_unet("tiny", 4, 8, seed=0)
    pipe = LDMPipeline(vqvae=vqvae, unet=unet, scheduler=DDIMScheduler.from_config(default_scheduler().config))
    pipe.set_progress_bar_config(disable=True)
    images = pipe(batch_size=2, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                  output_type="np").images
    assert images.shape == (2, 32, 32, 1)


def test_a_latent_diffusion_model_works_in_latents_and_carries_its_autoencoder_byte_for_byte(tmp_path, digits):
    from diffprune.models import DiffusionModel
    _train(tmp_path / "ae", 2, digits)
    model = DiffusionModel(build_unet("tiny", 4, 7, seed=0), default_scheduler(), load_autoencoder(tmp_path / "ae"),
                           tmp_path / "ae")
    assert model.latent and model.data_shape() == (1, 28, 28) and model.unet_shape() == (4, 7, 7)
    z = model.to_unet_space(digits[0][:3])
    assert z.shape == (3, 4, 7, 7) and torch.equal(z, encode(model.autoencoder, digits[0][:3]))
    assert model.to_images(z).dtype == torch.uint8 and model.to_images(z).shape == (3, 1, 28, 28)
    model.save(tmp_path / "ldm")
    weights = "vqvae/diffusion_pytorch_model.safetensors"
    assert (tmp_path / "ldm" / weights).read_bytes() == (tmp_path / "ae" / weights).read_bytes()
    loaded = DiffusionModel.load(tmp_path / "ldm")
    assert loaded.latent and loaded.source == tmp_path / "ldm"
    assert torch.equal(loaded.to_unet_space(digits[0][:3]), z)


@pytest.mark.parametrize("args, message", [
    (["--preset", "huge"], "invalid choice"),
    (["--steps", "0"], "steps must be >= 1"),
])
def test_bad_arguments_are_one_line_and_write_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "ae"
    assert main(["autoencoder", "--dataset", "mnist-5k", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists()


def test_a_latent_model_trains_prunes_finetunes_and_samples_with_its_autoencoder_unchanged(tmp_path, capsys):
    from diffprune.sample import load_samples
    from diffprune.standins import write_images
    from diffprune.unet import load_unet

    data = f"folder:{write_images(tmp_path / 'images')}"
    ae, teacher, pruned, tuned = (str(tmp_path / n) for n in ("ae", "teacher", "pruned", "tuned"))
    quick = ["--steps", "2", "--batch-size", "8", "--quiet"]
    assert main(["autoencoder", "--dataset", data, "--preset", "tiny", *quick, "--out", ae]) == 0
    assert main(["train", "--dataset", data, "--autoencoder", ae, "--preset", "tiny", "--grid", "4", *quick,
                 "--out", teacher]) == 0
    unet = load_unet(teacher)
    assert (unet.config.in_channels, unet.config.sample_size) == (4, 8)  # 3x32x32 images, 4x8x8 latents
    assert main(["prune", "--model", teacher, "--method", "diff-pruning", "--ratio", "0.25", "--dataset", data,
                 "--batch-size", "4", "--timestep-stride", "250", "--out", pruned, "--quiet"]) == 0
    assert main(["finetune", "--model", pruned, "--dataset", data, "--grid", "0", *quick, "--out", tuned]) == 0
    weights = "vqvae/diffusion_pytorch_model.safetensors"
    for d in (teacher, pruned, tuned):  # pruning and finetuning change the UNet only
        assert (tmp_path / d / weights).read_bytes() == (tmp_path / "ae" / weights).read_bytes()
    # an LDM directory may be the one home of both parts: the UNet trained into the autoencoder's --out
    assert main(["train", "--dataset", data, "--autoencoder", ae, "--preset", "tiny", "--grid", "0", *quick,
                 "--out", ae]) == 0
    assert load_unet(ae).config.in_channels == 4 and (tmp_path / "ae" / "vqvae" / "cost.json").is_file()
    assert main(["sample", "--model", tuned, "--n", "3", "--steps", "2", "--out", f"{tuned}.npz", "--quiet"]) == 0
    images, _, _ = load_samples(f"{tuned}.npz")
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8  # decoded to pixels
    capsys.readouterr()
    assert main(["finetune", "--model", pruned, "--dataset", "mnist-5k", *quick, "--out", f"{tuned}-digits"]) == 2
    assert "the model expects (3, 32, 32)" in capsys.readouterr().err  # the autoencoder's images, not latents
    assert not (tmp_path / "tuned-digits").exists()
    assert main(["train", "--dataset", "mnist-5k", "--autoencoder", ae, *quick, "--out", f"{teacher}-digits"]) == 2
    assert "the model expects (3, 32, 32)" in capsys.readouterr().err  # the autoencoder's images
    assert not (tmp_path / "teacher-digits").exists()

