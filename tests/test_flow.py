"""Conditional flow matching: recovery of a known conditional Gaussian, determinism, rebuild."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from flashsim_coffea.sim import flow, nets, ode
from flashsim_coffea.sim import transforms as T
from flashsim_coffea.train import flow as train_flow_mod
from flashsim_coffea.train import loop

RHO = 0.5


def _truth(c):
    """x | c ~ N((2c, -c), [[s1^2, rho s1 s2], [rho s1 s2, s2^2]]), s1 = 0.5 + 0.25c, s2 = 0.3."""
    c = np.asarray(c, np.float64)
    return np.array([2 * c, -c]), np.array([0.5 + 0.25 * c, np.full_like(c, 0.3)])


def _data(n, seed):
    rng = np.random.default_rng(seed)
    c = rng.uniform(-1, 1, n)
    z1, z2 = rng.standard_normal((2, n))
    mean, std = _truth(c)
    x = np.stack([mean[0] + std[0] * z1, mean[1] + std[1] * (RHO * z1 + np.sqrt(1 - RHO**2) * z2)], axis=1)
    return x, c[:, None]


@pytest.fixture(scope="module")
def trained():
    x, c = _data(200_000, 0)  # enough data that statistics do not limit the local mean/width to < 1%
    pipe = T.Pipeline.from_specs({"x1": {"kind": "plain"}, "x2": {"kind": "plain"}})
    cols = {"x1": x[:, 0], "x2": x[:, 1]}
    pipe.fit(cols)
    net, hist = train_flow_mod.train_flow(pipe.forward(cols), c, {"hidden": [64, 64, 64]}, seed=1, epochs=6,
                                batch_size=512, lr=2e-3, progress=False)
    return net, hist, pipe


def _check_conditional_gaussian(net, pipe, solver):
    for cv in (-0.8, -0.3, 0.2, 0.7):
        z = flow.sample(net, np.full((20_000, 1), cv), steps=20, solver=solver,
                        generator=torch.Generator().manual_seed(5))
        out = pipe.inverse(z)
        s = np.stack([out["x1"], out["x2"]], axis=1)
        mean, std = _truth(cv)
        # means within 5% of max(|mean|, width), widths within 5%, correlation within 0.05
        np.testing.assert_array_less(np.abs(s.mean(0) - mean), 0.05 * np.maximum(np.abs(mean), std))
        np.testing.assert_array_less(np.abs(s.std(0) / std - 1), 0.05)
        assert abs(np.corrcoef(s.T)[0, 1] - RHO) < 0.05


@pytest.mark.parametrize("solver", ["rk4", "midpoint"])
def test_recovers_conditional_gaussian(trained, solver):
    net, hist, pipe = trained
    assert hist["val_loss"][hist["best_epoch"]] == min(hist["val_loss"])
    assert hist["precision"] == "float32"
    _check_conditional_gaussian(net, pipe, solver)


def test_bfloat16_training_recovers_the_same_gaussian(trained):
    """Mixed-precision training (bfloat16 autocast, float32 weights) passes the float32 flow's check, from other
    weights than float32's (it did run in bfloat16), and the same seed gives the same network again."""
    net32, hist32, pipe = trained
    x, c = _data(200_000, 0)
    z = pipe.forward({"x1": x[:, 0], "x2": x[:, 1]})
    kw = dict(seed=1, epochs=6, batch_size=512, lr=2e-3, progress=False, precision="bfloat16")
    net, hist = train_flow_mod.train_flow(z, c, {"hidden": [64, 64, 64]}, **kw)
    assert hist["precision"] == "bfloat16"
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert not torch.equal(net.inp.weight, net32.inp.weight)
    assert abs(hist["best_val_loss"] / hist32["best_val_loss"] - 1) < 0.02
    _check_conditional_gaussian(net, pipe, "midpoint")
    again, _ = train_flow_mod.train_flow(z[:20_000], c[:20_000], {"hidden": [16]}, **{**kw, "epochs": 1})
    same, _ = train_flow_mod.train_flow(z[:20_000], c[:20_000], {"hidden": [16]}, **{**kw, "epochs": 1})
    for k, v in again.state_dict().items():
        torch.testing.assert_close(v, same.state_dict()[k], rtol=0, atol=0)


def test_coarse_euler_fails_the_same_check(trained):
    """The checks above can fail: 2 Euler steps give visibly wrong widths."""
    net, _, pipe = trained
    g = torch.Generator().manual_seed(5)
    z = flow.sample(net, np.full((20_000, 1), 0.2), steps=2, solver="euler", generator=g)
    out = pipe.inverse(z)
    _, std = _truth(0.2)
    assert np.abs(np.array([out["x1"].std(), out["x2"].std()]) / std - 1).max() > 0.05


def test_rebuild_from_config_and_flops(trained):
    net, _, _ = trained
    cfg = json.loads(json.dumps(net.config))
    again = nets.build_velocity(cfg)
    again.load_state_dict(net.state_dict())
    c = np.linspace(-1, 1, 50)[:, None]
    a = flow.sample(net, c, steps=4, solver="euler", generator=torch.Generator().manual_seed(0))
    b = flow.sample(again, c, steps=4, solver="euler", generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(a, b)
    # linear layers of [64, 64, 64], dim 2, context 1: input (2+1+1)x64; per block 2x64x64 + 2x64; out 64x2
    assert nets.count_flops(net) == 4 * 64 + 3 * (2 * 64 * 64 + 2 * 64) + 64 * 2
    assert nets.count_flops(net) * ode.nfe("rk4", 20) == 80 * nets.count_flops(net)
    # the context columns (input layer and three gates, one context column each) are what a wider context adds
    assert nets.context_flops(net) == 4 * 64
    wide = nets.build_velocity({**cfg, "context_dim": 279})
    assert nets.count_flops(wide) - nets.count_flops(net) == nets.context_flops(wide) - nets.context_flops(net)
    assert nets.context_flops(nets.mlp(5, [8], 2)) == 0


def test_context_products_once_per_object():
    """``at`` applies the context columns once: a 279-wide context (a one-hot of 278 categories) leaves the
    per-evaluation product of the state unchanged, the velocity equal to ``forward``."""
    torch.manual_seed(0)
    net = nets.build_velocity({"dim": 3, "context_dim": 279, "hidden": [32, 32]})
    c = torch.zeros(7, 279)
    c[torch.arange(7), torch.arange(7) * 30] = 1.0
    x = torch.randn(7, 3)
    v = net.at(c)
    torch.testing.assert_close(v(0.4, x), net(torch.full((7,), 0.4), x, c), atol=1e-5, rtol=1e-5)
    calls = []
    hook = net.inp.register_forward_hook(lambda *a: calls.append(1))
    v(0.7, x)
    hook.remove()
    assert calls == []  # the solver's evaluations never run the input layer over the context


def _small(seed, n=2000):
    x, c = _data(n, 3)
    return train_flow_mod.train_flow(x, c, {"hidden": [16, 16], "dropout": 0.1}, seed=seed, epochs=3, batch_size=256,
                           progress=False)


def test_same_seed_same_result_different_seed_different():
    (n1, h1), (n2, h2), (n3, _) = _small(7), _small(7), _small(8)
    for k, v in n1.state_dict().items():
        torch.testing.assert_close(v, n2.state_dict()[k], rtol=0, atol=0)
    assert h1["val_loss"] == h2["val_loss"]
    assert any(not torch.equal(v, n3.state_dict()[k]) for k, v in n1.state_dict().items())
    c = np.random.default_rng(0).uniform(-1, 1, (500, 1))
    s1 = flow.sample(n1, c, steps=5, generator=torch.Generator().manual_seed(3))
    s2 = flow.sample(n1, c, steps=5, generator=torch.Generator().manual_seed(3))
    s3 = flow.sample(n1, c, steps=5, generator=torch.Generator().manual_seed(4))
    np.testing.assert_array_equal(s1, s2)
    assert not np.allclose(s1, s3)


def test_sampling_is_independent_of_chunking_and_takes_given_noise():
    net, _ = _small(9, n=500)
    c = np.random.default_rng(1).uniform(-1, 1, (1000, 1))
    noise = np.random.default_rng(2).standard_normal((1000, 2)).astype(np.float32)
    whole = flow.sample(net, c, steps=6, solver="midpoint", noise=noise)
    chunked = flow.sample(net, c, steps=6, solver="midpoint", noise=noise, batch_size=137)
    np.testing.assert_allclose(whole, chunked, rtol=1e-6, atol=1e-6)
    assert whole.dtype == np.float32 and whole.shape == (1000, 2)
    with pytest.raises(ValueError, match="noise"):
        flow.sample(net, c, noise=noise[:10])


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_row_does_not_depend_on_its_batch(precision):
    """Batches of 333 leave one row for the last: padded to ``nets.MIN_ROWS``, it comes out as in one batch of
    1000, bit for bit (torch's product of 1-3 rows rounds otherwise, and bfloat16 grows that to ~1e-3)."""
    net = nets.build_velocity({"dim": 3, "context_dim": 4, "hidden": [32, 32]})
    c = np.random.default_rng(1).uniform(-1, 1, (1000, 4))
    noise = np.random.default_rng(2).standard_normal((1000, 3)).astype(np.float32)
    whole = flow.sample(net, c, steps=4, noise=noise, precision=precision)
    np.testing.assert_array_equal(whole, flow.sample(net, c, steps=4, noise=noise, batch_size=333, precision=precision))
    np.testing.assert_array_equal(whole[-2:], flow.sample(net, c[-2:], steps=4, noise=noise[-2:], precision=precision))


def test_time_sampling_and_loss_target():
    t = train_flow_mod.sample_t(200_000, torch.Generator().manual_seed(0), alpha=1.0)
    assert float(t.min()) >= 0 and float(t.max()) < 1
    assert float(t.mean()) == pytest.approx(2 / 3, abs=3e-3)  # density 2t
    # a "network" returning the exact OT-path target velocity has zero loss
    x1 = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))
    x0 = torch.randn(64, 3, generator=torch.Generator().manual_seed(2))
    s = 1e-4

    def exact(t, xt, c):
        tt = t.reshape(-1, 1)
        return (x1 - (1 - s) * xt) / (1 - (1 - s) * tt)  # u_t(x | x1) of Lipman et al., eq. 21

    # seeded t below 0.95: near t = 1 the target divides by ~sigma_min and float32 round-off
    # alone gives a loss of O(1) (an unseeded draw failed once in a full run)
    t = 0.95 * torch.rand(64, generator=torch.Generator().manual_seed(3))
    loss = train_flow_mod.cfm_loss(exact, x1, torch.zeros(64, 0), x0=x0, t=t, sigma_min=s)
    assert float(loss) < 1e-10


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_train_loop_keeps_the_moving_average_of_the_weights(ema):
    # loss = w: Adam moves w by exactly -lr per step (constant gradient), so the raw weight
    # after k steps is w0 - k lr and its moving average follows the warmed-up recurrence
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    lr, epochs, per_epoch = 0.01, 6, 3
    vals = iter(range(100, 0, -1))  # every epoch better than the last: the last one is kept
    one_epoch = lambda gen: iter([(torch.zeros(1),)] * per_epoch)
    hist = loop.train_loop(net, lambda batch, gen: net.weight.sum(), one_epoch, lambda: float(next(vals)), seed=0,
                           epochs=epochs, steps_per_epoch=per_epoch, lr=lr, schedule="constant", ema=ema,
                           progress=False)
    steps = epochs * per_epoch
    assert hist["steps"] == steps and hist["best_epoch"] == epochs - 1
    raw, avg = 1.0, 1.0
    for k in range(1, steps + 1):
        raw -= lr
        decay = min(ema, (1 + k) / (10 + k))
        avg = decay * avg + (1 - decay) * raw
    kept = float(net.weight.detach())
    if ema:
        assert kept == pytest.approx(avg, abs=1e-5)
        assert abs(kept - raw) > 0.015  # lags the raw weights, which trained on undisturbed
    else:
        assert kept == pytest.approx(raw, abs=1e-5)


def test_oversampling_a_rare_condition_keeps_the_conditional_distribution():
    """Rows drawn 10x as often where the conditioning flag is set: p(x | c) is unchanged."""
    rng = np.random.default_rng(2)
    n = 80_000
    c = (rng.uniform(size=n) < 0.05).astype(np.float64)  # the rare kind: 5% of the rows
    x = np.stack([np.where(c > 0, 2.0, 0.0) + np.where(c > 0, 0.75, 0.5) * rng.standard_normal(n),
                  np.where(c > 0, -1.0, 0.0) + 0.3 * rng.standard_normal(n)], axis=1)
    w = np.where(c > 0, 10.0, 1.0)
    net, hist = train_flow_mod.train_flow(x, c[:, None], {"hidden": [64, 64]}, seed=1, epochs=12, batch_size=512, lr=2e-3,
                                row_weights=w, progress=False)
    assert np.isfinite(hist["best_val_loss"])
    for cv, mean, std in ((1.0, (2.0, -1.0), (0.75, 0.3)), (0.0, (0.0, 0.0), (0.5, 0.3))):
        s = flow.sample(net, np.full((20_000, 1), cv), steps=20, solver="rk4", generator=torch.Generator().manual_seed(5))
        s = np.asarray(s)
        np.testing.assert_array_less(np.abs(s.mean(0) - mean), 0.05 * np.maximum(np.abs(mean), std))
        np.testing.assert_array_less(np.abs(s.std(0) / np.array(std) - 1), 0.05)


def test_bfloat16_velocity_stays_close_to_float32_from_the_same_noise():
    """The velocity network under bfloat16 autocast (the state and the solver float32) lands within a few
    hundredths of the float32 samples from the same noise, not on them; float32 is the default; an unknown
    precision is named."""
    torch.manual_seed(0)
    net = nets.build_velocity({"dim": 3, "context_dim": 4, "hidden": [32, 32]})
    c = torch.randn(500, 4)
    noise = torch.randn(500, 3)
    f32 = flow.sample(net, c, steps=8, noise=noise)
    assert np.array_equal(f32, flow.sample(net, c, steps=8, noise=noise, precision="float32"))
    bf16 = flow.sample(net, c, steps=8, noise=noise, precision="bfloat16")
    assert bf16.dtype == np.float32
    diff = np.abs(bf16 - f32)
    assert 0 < diff.max() < 0.05 and diff.mean() < 0.01
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        flow.sample(net, c, steps=2, noise=noise, precision="fp8")


@pytest.mark.parametrize("gated,context_dim", [(True, 5), (False, 5), (True, 0)])
def test_fixed_context_velocity_equals_the_full_forward(gated, context_dim):
    """``VelocityNet.at``: the context products computed once give the forward's velocity at any time."""
    torch.manual_seed(3)
    net = nets.build_velocity({"dim": 3, "context_dim": context_dim, "hidden": [16, 24, 16], "gated": gated})
    for p in net.parameters():  # trained-like weights, not the near-identity start
        p.data.normal_(0.0, 0.3)
    net.set_context_scaling(np.arange(context_dim, dtype=np.float32), np.full(context_dim, 2.0, np.float32))
    net.eval().requires_grad_(False)
    x, c = torch.randn(50, 3), torch.randn(50, context_dim) * 3
    v = net.at(c)
    for t in (0.0, 0.37, 1.0):
        full = net(torch.full((50,), t), x, c)
        assert full.abs().mean() > 0.3
        assert float((v(t, x) - full).abs().max()) < 1e-6 * float(full.abs().max()) * 10
    # and through a whole integration, which now runs on it
    y = flow.sample(net, c.numpy(), steps=4, noise=x.numpy())
    ref = ode.solve(lambda t, z: net(torch.full((50,), t), z, c), x, 4, "midpoint").numpy()
    assert np.abs(y).max() > 1.0
    assert np.abs(y - ref).max() < 1e-5 * np.abs(y).max()
