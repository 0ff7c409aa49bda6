import signal

import pytest
import torch

import diffprune.train as train_mod
from diffprune import DiffpruneError, load_unet
from diffprune.models import DiffusionModel
from diffprune.progress import listening
from diffprune.train import TrainConfig, batch_indices, train
from diffprune.unet import build_unet


def _images(n=40):
    return torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def _cfg(**kw):
    return TrainConfig(**{**dict(steps=6, batch_size=8, checkpoint_every=3, log_every=1, warmup_steps=2), **kw})


def _model():
    return build_unet("tiny", 1, 16, seed=0, dropout=0.1)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, scheduler, monkeypatch):
    reference = train(DiffusionModel(_model(), scheduler), _images(), _cfg(), tmp_path / "a", progress=False)

    calls = {"n": 0}
    real = train_mod.noise_prediction_loss

    def crash_at_step_5(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "noise_prediction_loss", crash_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        train(DiffusionModel(_model(), scheduler), _images(), _cfg(), tmp_path / "b", progress=False)
    assert not (tmp_path / "b" / "unet").exists()  # nothing final was written
    monkeypatch.setattr(train_mod, "noise_prediction_loss", real)
    heard = []  # the study's progress line hears a long step's own loop, its bar off
    with listening(lambda bar: heard.append((bar.what, bar.done, bar.total))):
        resumed = train(DiffusionModel(_model(), scheduler), _images(), _cfg(), tmp_path / "b", progress=False)
    assert heard == [("train", step, 6) for step in (4, 5, 6)]  # resumed from step 3's checkpoint

    for p, q in zip(reference.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    assert (tmp_path / "b" / "train_log.csv").read_text() .count("\n") == 7  # header + 6 steps
    assert torch.equal(*(load_unet(tmp_path / d).conv_in.weight for d in "ab"))


def test_a_signal_stops_the_run_after_a_checkpoint_of_the_step_under_way_and_loses_nothing(tmp_path, scheduler,
                                                                                           monkeypatch):
    """`kill` (SIGTERM) mid-step: the step finishes, is checkpointed though no checkpoint was due
    (every 3 steps; stopped at 5), and the resumed run ends with the uninterrupted run's weights and
    log rows (the losses since the last row are kept: rows of 2 steps, stopped between)."""
    cfg = dict(log_every=2, steps=7)
    reference = train(DiffusionModel(_model(), scheduler), _images(), _cfg(**cfg), tmp_path / "a", progress=False)

    calls = {"n": 0}
    real = train_mod.noise_prediction_loss

    def kill_during_step_5(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            signal.raise_signal(signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "noise_prediction_loss", kill_during_step_5)
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="stopped at step 5"):
        train(DiffusionModel(_model(), scheduler), _images(), _cfg(**cfg), tmp_path / "b", progress=False)
    assert calls["n"] == 5 and signal.getsignal(signal.SIGTERM) is handler  # no step after; handler given back
    assert not (tmp_path / "b" / "unet").exists()
    monkeypatch.setattr(train_mod, "noise_prediction_loss", real)
    heard = []
    with listening(lambda bar: heard.append(bar.done)):
        resumed = train(DiffusionModel(_model(), scheduler), _images(), _cfg(**cfg), tmp_path / "b", progress=False)
    assert heard == [6, 7]
    for p, q in zip(reference.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    losses = [(tmp_path / d / "train_log.csv").read_text().splitlines() for d in "ab"]
    assert [r.split(",")[:2] for r in losses[0]] == [r.split(",")[:2] for r in losses[1]]


def test_resume_with_other_parameters_is_refused(tmp_path, scheduler):
    train(DiffusionModel(_model(), scheduler), _images(), _cfg(steps=3), tmp_path / "a", progress=False)
    with pytest.raises(DiffpruneError, match="other parameters"):
        train(DiffusionModel(_model(), scheduler), _images(), _cfg(steps=6, lr=1e-3), tmp_path / "a", progress=False)


def test_loss_decreases_on_a_tiny_problem(tmp_path, scheduler):
    images = torch.full((16, 1, 16, 16), 200, dtype=torch.uint8)
    train(DiffusionModel(_model(), scheduler), images, _cfg(steps=40, lr=2e-3, checkpoint_every=40), tmp_path,
          progress=False)
    rows = (tmp_path / "train_log.csv").read_text().splitlines()[1:]
    losses = [float(r.split(",")[1]) for r in rows]
    assert sum(losses[-5:]) < sum(losses[:5])


def test_batches_cover_each_epoch_once():
    seen = torch.cat([batch_indices(40, 8, seed=1, step=s) for s in range(5)])
    assert sorted(seen.tolist()) == list(range(40))
    assert not torch.equal(batch_indices(40, 8, 1, 0), batch_indices(40, 8, 1, 5))


@pytest.mark.parametrize("kw", [dict(steps=0), dict(lr=0.0), dict(ema_decay=1.0), dict(batch_size=0)])
def test_bad_training_config(kw):
    with pytest.raises(DiffpruneError):
        _cfg(**kw).validate()


def test_bf16_training_stays_close_to_fp32_and_keeps_attention_in_fp32(tmp_path, scheduler):
    """The bf16 lever: the same run's losses within bf16's rounding of fp32's, the attention layers
    computed in fp32 during training and given back their own processors after, and the precision
    recorded with the run."""
    import json

    from diffusers.models.attention_processor import Attention
    seen = []
    model = _model()
    attention = next(m for m in model.modules() if isinstance(m, Attention))
    original = attention.processor
    attention.register_forward_hook(lambda m, args, kwargs, out: seen.append(out.dtype), with_kwargs=True)
    train(DiffusionModel(_model(), scheduler), _images(), _cfg(), tmp_path / "fp32", progress=False)
    train(DiffusionModel(model, scheduler), _images(), _cfg(precision="bf16"), tmp_path / "bf16", progress=False)
    assert seen and set(seen) == {torch.float32} and attention.processor is original

    def losses(d):
        return [float(r.split(",")[1]) for r in (tmp_path / d / "train_log.csv").read_text().splitlines()[1:]]
    assert losses("bf16") == pytest.approx(losses("fp32"), rel=0.03)
    assert json.loads((tmp_path / "bf16" / "cost.json").read_text())["config"]["precision"] == "bf16"


def test_an_unknown_precision_is_one_clear_error(tmp_path, scheduler):
    with pytest.raises(DiffpruneError, match="precision must be one of fp32, bf16"):
        train(DiffusionModel(_model(), scheduler), _images(), _cfg(precision="fp8"), tmp_path, progress=False)
    assert not tmp_path.joinpath("unet").exists()


def test_a_checkpoint_from_before_the_precision_field_resumes_as_the_same_run(tmp_path, scheduler):
    """Runs recorded before `precision` existed were fp32: their checkpoints resume."""
    import json
    train(DiffusionModel(_model(), scheduler), _images(), _cfg(steps=3), tmp_path / "a", progress=False)
    state = tmp_path / "a" / "checkpoint" / "state.json"
    old = json.loads(state.read_text())
    del old["run"]["config"]["precision"]
    state.write_text(json.dumps(old))
    train(DiffusionModel(_model(), scheduler), _images(), _cfg(steps=6), tmp_path / "a", progress=False)
    assert (tmp_path / "a" / "train_log.csv").read_text().count("\n") == 7  # resumed at 3, on to 6
    with pytest.raises(DiffpruneError, match="other parameters"):  # but not as a bf16 run
        train(DiffusionModel(_model(), scheduler), _images(), _cfg(steps=9, precision="bf16"), tmp_path / "a",
              progress=False)
