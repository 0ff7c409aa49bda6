from diffusers.models.attention_processor import Attention, AttnProcessor

from diffprune.cost import count_macs
from diffprune.unet import build_unet


def test_attention_matmuls_are_counted():
    # AttnProcessor does attention with explicit (b)mm ops that torch counts natively; the default
    # SDPA processor must give the same total.
    model = build_unet("tiny", 1, 16).eval()
    sdpa = count_macs(model)
    attentions = [m for m in model.modules() if isinstance(m, Attention)]
    assert attentions
    for m in attentions:
        m.set_processor(AttnProcessor())
    assert count_macs(model) == sdpa


def test_macs_scale_with_image_area():
    small, large = build_unet("tiny", 1, 16), build_unet("tiny", 1, 32)
    assert 3.5 < count_macs(large) / count_macs(small) < 5  # ~4x, attention grows faster
