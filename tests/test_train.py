import pytest
import torch

import diffprune.train as train_mod
from diffprune import DiffpruneError, load_unet
from diffprune.models import DiffusionModel
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
    resumed = train(DiffusionModel(_model(), scheduler), _images(), _cfg(), tmp_path / "b", progress=False)

    for p, q in zip(reference.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    assert (tmp_path / "b" / "train_log.csv").read_text() .count("\n") == 7  # header + 6 steps
    assert torch.equal(*(load_unet(tmp_path / d).conv_in.weight for d in "ab"))


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
