import json

import pytest
import torch
from conftest import images_for
from diffusers import DDIMPipeline, DDIMScheduler

from diffprune import DiffpruneError, load_unet, prune
from diffprune.images import to_model_range
from diffprune.models import pixel_model
from diffprune.unet import HISTORY, WEIGHTS, build_unet, image_shape


def _outputs(model):
    x = images_for(model, n=2, seed=5)
    with torch.no_grad():
        return model.eval()(x, torch.tensor([1, 500])).sample


@pytest.fixture
def pruned_dir(tmp_path, tiny_unet, scheduler):
    model, _ = prune(tiny_unet, "diff-pruning", 0.3, scheduler=scheduler, images=images_for(tiny_unet),
                     timestep_stride=100, progress=False)
    pixel_model(model, scheduler).save(tmp_path / "pruned")
    return model, tmp_path / "pruned"


def test_dense_round_trip_is_bit_identical(tmp_path, tiny_unet):
    pixel_model(tiny_unet).save(tmp_path / "dense")
    assert torch.equal(_outputs(tiny_unet), _outputs(load_unet(tmp_path / "dense")))


def test_pruned_round_trip_is_bit_identical_and_samples(pruned_dir):
    model, d = pruned_dir
    assert (d / "unet" / HISTORY).is_file()
    assert not list(d.rglob("*.bin")) and not list(d.rglob("*.pt*"))  # no pickles
    reloaded = load_unet(d)
    assert torch.equal(_outputs(model), _outputs(reloaded))
    assert reloaded.pruning_history == json.loads((d / "unet" / HISTORY).read_text())
    pipe = DDIMPipeline(unet=reloaded, scheduler=DDIMScheduler.from_pretrained(d / "scheduler"))
    images = pipe(batch_size=2, num_inference_steps=3, output_type="np",
                  generator=torch.Generator().manual_seed(0)).images
    assert images.shape == (2, 16, 16, reloaded.config.in_channels)


def test_a_pixel_model_is_the_identity_case(tmp_path, tiny_unet):
    from diffprune.models import DiffusionModel
    x = torch.randint(0, 256, (2, *image_shape(tiny_unet)), dtype=torch.uint8)
    model = pixel_model(tiny_unet)
    assert not model.latent and model.data_shape() == model.unet_shape() == image_shape(tiny_unet)
    assert torch.equal(model.to_unet_space(x), to_model_range(x))
    assert torch.equal(model.to_images(model.to_unet_space(x)), x)
    model.save(tmp_path / "m")
    loaded = DiffusionModel.load(tmp_path / "m")
    assert not loaded.latent and not (tmp_path / "m" / "vqvae").exists()
    assert torch.equal(_outputs(tiny_unet), _outputs(loaded.unet))


def test_truncated_weights_are_refused(pruned_dir):
    _, d = pruned_dir
    weights = d / "unet" / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(DiffpruneError, match="corrupt"):
        load_unet(d)


def test_tampered_weights_are_refused(pruned_dir):
    _, d = pruned_dir
    weights = d / "unet" / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(DiffpruneError, match="corrupt"):
        load_unet(d)


def test_missing_weights_are_refused(pruned_dir):
    _, d = pruned_dir
    (d / "unet" / WEIGHTS).unlink()
    with pytest.raises(DiffpruneError, match="missing"):
        load_unet(d)


def test_history_that_does_not_fit_the_config_is_refused(pruned_dir):
    _, d = pruned_dir
    cfg_path = d / "unet" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["block_out_channels"] = [24, 48]
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(DiffpruneError, match="does not fit"):
        load_unet(d)


def test_missing_directory_and_offline_hub_give_one_line(tmp_path):
    with pytest.raises(DiffpruneError, match="not found"):
        load_unet(tmp_path / "nowhere")
    with pytest.raises(DiffpruneError, match="hub") as err:
        load_unet("google/ddpm-cifar10-32")
    assert "\n" not in str(err.value)


def test_diffusers_save_pretrained_directory_loads(tmp_path):
    model = build_unet("tiny", 3, 16, seed=1)
    model.save_pretrained(tmp_path / "hf")  # a model saved by plain diffusers, as a user would have
    assert torch.equal(_outputs(model), _outputs(load_unet(tmp_path / "hf")))
