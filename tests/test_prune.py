import copy

import pytest
import torch
from conftest import images_for
from diffusers.models.attention_processor import Attention

from diffprune import DiffpruneError, count_macs, count_params, importance, prune
from diffprune.importance import METHODS, accumulate_gradients
from diffprune.threshold import should_stop
from diffprune.unet import build_unet


def _prune(model, method, ratio, scheduler, **kw):
    kw.setdefault("timestep_stride", 100)
    return prune(model, method, ratio, scheduler=scheduler, images=images_for(model),
                 progress=False, **kw)


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.5, 0.7])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_and_ratio_gives_a_smaller_working_model(tiny_unet, scheduler, method, ratio):
    dense_out = tiny_unet.conv_out.out_channels
    model, report = _prune(tiny_unet, method, ratio, scheduler)
    x = images_for(model, n=2, seed=1)
    with torch.no_grad():
        y = model(x, torch.tensor([0, 999])).sample
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert model.conv_out.out_channels == dense_out
    assert report["params_after"] == count_params(model) < report["params_before"]
    assert report["macs_after"] == count_macs(model) < report["macs_before"]
    assert report["macs_fraction"] == pytest.approx(report["macs_after"] / report["macs_before"])
    for name, width in report["widths_after"].items():
        assert width < report["widths_before"][name], name
    # attention stays head-consistent
    for m in model.modules():
        if isinstance(m, Attention):
            assert m.to_q.out_features % m.heads == 0 and m.to_q.out_features == m.to_k.out_features


def test_macs_shrink_roughly_with_the_square_of_the_widths(scheduler):
    model = build_unet("small", 1, 28)
    _, report = prune(model, "magnitude", 0.5, progress=False)
    assert 0.2 < report["macs_fraction"] < 0.3  # widths halved -> ~x0.25


def test_stop_rule_holds_on_recorded_losses(tiny_unet, scheduler):
    # a random model's L_t hovers near 1, so a high T makes the rule fire early
    _, report = _prune(tiny_unet, "diff-pruning", 0.3, scheduler, threshold=0.999, timestep_stride=10)
    losses, stop_t = report["loss_t"], report["stop_t"]
    assert stop_t is not None and report["visited_t"][-1] == stop_t
    running = float("-inf")
    for loss in losses[:-1]:
        running = max(running, loss)
        assert not should_stop(loss, running, 0.999)
    assert should_stop(losses[-1], max(losses), 0.999)
    assert report["grad_timesteps"] == len(losses) - 1


def test_taylor_visits_every_timestep(tiny_unet, scheduler):
    _, report = _prune(tiny_unet, "taylor", 0.3, scheduler, timestep_stride=50)
    assert report["visited_t"] == list(range(0, 1000, 50)) and report["stop_t"] is None


class _Identity(torch.nn.Module):
    """Predicts eps = x_t * w: L_t falls towards 0 as t grows, as in a trained DDPM."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x, t):
        return type("Out", (), {"sample": x * self.w})


def test_stopping_timestep_contributes_no_gradient(scheduler):
    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    noise = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    model = _Identity()
    record = accumulate_gradients(model, scheduler, x0, noise, threshold=0.05, timestep_stride=25,
                                  progress=False)
    assert record["stop_t"] is not None
    expected = _Identity()
    for t in record["visited_t"][:-1]:
        xt = scheduler.add_noise(x0, noise, torch.full((4,), t))
        torch.nn.functional.mse_loss(expected(xt, t).sample, noise).backward()
    assert torch.allclose(model.w.grad, expected.w.grad)


def test_methods_keep_different_channels(scheduler):
    histories = {}
    for method in ("random", "magnitude", "taylor", "diff-pruning"):
        model = build_unet("tiny", 1, 16, seed=0)
        _prune(model, method, 0.3, scheduler, threshold=0.5, timestep_stride=50)
        histories[method] = model.pruning_history
    kept = {m: [tuple(idx) for _, _, idx in h] for m, h in histories.items()}
    methods = list(kept)
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            assert kept[a] != kept[b], (a, b)


def test_same_seed_same_pruning_and_reinit_shares_random_structure(scheduler):
    a, _ = _prune(build_unet("tiny", 1, 16), "random", 0.3, scheduler, seed=3)
    b, _ = _prune(build_unet("tiny", 1, 16), "random", 0.3, scheduler, seed=3)
    c, _ = _prune(build_unet("tiny", 1, 16), "reinit", 0.3, scheduler, seed=3)
    assert a.pruning_history == b.pruning_history == c.pruning_history
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    conv = [(p, q) for (n, p), q in zip(a.named_parameters(), c.parameters(), strict=True)
            if n.endswith("conv1.weight")]
    assert conv and all(not torch.equal(p, q) for p, q in conv)


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="bogus", ratio=0.3), "unknown method"),
    (dict(method="random", ratio=0.0), "ratio"),
    (dict(method="random", ratio=1.0), "ratio"),
    (dict(method="diff-pruning", ratio=0.3, threshold=1.0), "threshold"),
    (dict(method="diff-pruning", ratio=0.3, threshold=-0.1), "threshold"),
    (dict(method="diff-pruning", ratio=0.3, timestep_stride=0), "stride"),
    (dict(method="random", ratio=0.3, round_to=0), "round-to must be an integer >= 1"),
    (dict(method="random", ratio=0.3, round_to=2.5), "round-to must be an integer >= 1"),
])
def test_bad_arguments_are_refused(scheduler, kwargs, message):
    with pytest.raises(DiffpruneError, match=message):
        prune(build_unet("tiny", 1, 16), scheduler=scheduler, images=None, progress=False, **kwargs)


def test_gradient_methods_need_data(scheduler):
    with pytest.raises(DiffpruneError, match="needs data"):
        prune(build_unet("tiny", 1, 16), "taylor", 0.3, scheduler=scheduler, progress=False)


def test_squared_score_is_the_sum_of_squared_products_and_restores_the_weights():
    import torch_pruning as tp

    from diffprune.importance import SquaredTaylorImportance
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 3, 3))
    net(torch.randn(5, 2, 8, 8)).pow(2).sum().backward()
    dg = tp.DependencyGraph().build_dependency(net, example_inputs=torch.randn(1, 2, 8, 8))
    group = dg.get_pruning_group(net[0], tp.prune_conv_out_channels, idxs=list(range(4)))
    before = [(p.detach().clone(), p.grad.clone()) for p in net.parameters()]
    score = SquaredTaylorImportance()(group)
    (w1, g1), (w2, g2) = (net[0].weight, net[0].weight.grad), (net[2].weight, net[2].weight.grad)
    by_hand = (w1 * g1).pow(2).flatten(1).sum(1) + (w2 * g2).pow(2).transpose(0, 1).flatten(1).sum(1)
    assert torch.allclose(score / score.sum(), by_hand / by_hand.sum(), rtol=1e-5)  # up to torch-pruning's scaling
    assert all(torch.equal(p, w) and torch.equal(p.grad, g) for p, (w, g) in zip(net.parameters(), before, strict=True))


def test_taylor_is_diff_pruning_with_the_sum_score_and_no_threshold(scheduler):
    model = build_unet("tiny", 1, 16, seed=0)
    _, taylor = _prune(copy.deepcopy(model), "taylor", 0.4, scheduler)
    _, same = _prune(copy.deepcopy(model), "diff-pruning", 0.4, scheduler, threshold=0.0, score="sum")
    _, dp = _prune(copy.deepcopy(model), "diff-pruning", 0.4, scheduler, threshold=0.0)
    assert taylor["score"] == same["score"] == "sum" and dp["score"] == "abs"
    assert taylor["removed"] == same["removed"] and taylor["visited_t"] == same["visited_t"]
    _, square = _prune(copy.deepcopy(model), "diff-pruning", 0.4, scheduler, threshold=0.0, score="square")
    assert square["score"] == "square" and len({str(r["removed"]) for r in (dp, same, square)}) > 1
    with pytest.raises(DiffpruneError, match="score form"):
        _prune(copy.deepcopy(model), "magnitude", 0.4, scheduler, score="abs")
    with pytest.raises(DiffpruneError, match="score form"):
        _prune(copy.deepcopy(model), "taylor", 0.4, scheduler, score="cube")


def test_a_registered_criterion_prunes_and_its_source_is_in_the_cache_key(registry, tmp_path, scheduler):
    from diffprune.profiles import load_extensions
    crit = tmp_path / "crit.py"
    crit.write_text("import torch_pruning as tp\nfrom diffprune.importance import register\n"
                    "register('l1x', lambda: tp.importance.MagnitudeImportance(p=1))\n")
    load_extensions([str(crit)])
    first = importance.fingerprint("l1x")
    assert "l1x" in importance.METHODS and "l1x" not in importance.GRADIENT_METHODS
    model, report = prune(build_unet("tiny", 1, 16, seed=0), "l1x", 0.25, scheduler=scheduler, progress=False)
    assert report["method"] == "l1x" and report["macs_fraction"] < 1
    crit.write_text(crit.read_text() + "# edited\n")
    load_extensions([str(crit)])
    assert importance.fingerprint("l1x") != first  # an edited criterion gets another cache key
    with pytest.raises(DiffpruneError, match="built in"):
        importance.register("magnitude", lambda: None)


@pytest.mark.parametrize("preset, ratio", [("small", 0.25), ("small", 0.35), ("tiny", 0.3)])
def test_rounding_keeps_every_pruned_width_a_multiple_of_8_and_the_model_working(scheduler, preset, ratio):
    """torch-pruning's own round_to leaves every GroupNorm layer unpruned; ours rounds the kept
    channels per GroupNorm group and attention head so the widths are multiples of 8, groups even."""
    from torch.nn import Conv2d, GroupNorm
    model, report = prune(build_unet(preset, 1, 28, seed=0), "magnitude", ratio, round_to=8, progress=False)
    dense, plain = build_unet(preset, 1, 28, seed=0), prune(build_unet(preset, 1, 28, seed=0), "magnitude", ratio,
                                                           progress=False)[1]
    widths = [m.out_channels for m in model.modules() if isinstance(m, Conv2d) and m is not model.conv_out]
    assert widths and all(w % 8 == 0 for w in widths) and report["round_to"] == 8
    assert all(m.num_channels % m.num_groups == 0 for m in model.modules() if isinstance(m, GroupNorm))
    assert report["macs_after"] < count_macs(dense)  # it prunes (torch-pruning's round_to: MACs x0.99)
    assert abs(report["macs_fraction"] - plain["macs_fraction"]) < 0.15  # near the unrounded ratio
    for m in model.modules():
        if isinstance(m, Attention):
            assert m.to_q.out_features % m.heads == 0
    x = torch.zeros(2, 1, 28, 28)
    with torch.no_grad():
        assert model(x, torch.tensor([0, 999])).sample.shape == x.shape
