"""Fixed-step ODE solvers: accuracy against exact solutions, convergence order, NFE."""

from __future__ import annotations

import math

import pytest
import torch

from flashsim_coffea.sim import ode

SOLVERS = ["euler", "midpoint", "heun", "rk4", "ab2"]
ORDER = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4, "ab2": 2}


def _linear_problem():
    """dx/dt = A x (damped rotation), exact x(1) = expm(A) x0."""
    a = torch.tensor([[-0.5, 2.0], [-2.0, -0.5]], dtype=torch.float64)
    x0 = torch.tensor([[1.0, 0.0], [0.3, -2.0], [-1.0, 0.5]], dtype=torch.float64)
    exact = x0 @ torch.linalg.matrix_exp(a).T
    return (lambda t, x: x @ a.T), x0, exact


def test_linear_ode_error_ordering_and_value():
    v, x0, exact = _linear_problem()
    err = {s: float((ode.solve(v, x0, 20, s) - exact).abs().max()) for s in SOLVERS}
    assert err["euler"] > err["midpoint"] > err["rk4"]
    assert err["euler"] > err["heun"] > err["rk4"]
    assert err["euler"] > err["ab2"] > err["rk4"]
    assert err["rk4"] < 1e-5
    assert err["midpoint"] < 1e-2
    assert err["euler"] > 0.05  # first order is visibly off at 20 steps


@pytest.mark.parametrize("solver", SOLVERS)
def test_convergence_order(solver):
    v, x0, exact = _linear_problem()
    e1 = float((ode.solve(v, x0, 16, solver) - exact).abs().max())
    e2 = float((ode.solve(v, x0, 32, solver) - exact).abs().max())
    assert math.log2(e1 / e2) == pytest.approx(ORDER[solver], abs=0.3)


@pytest.mark.parametrize("solver", SOLVERS)
def test_time_dependent_ode(solver):
    """dx/dt = 2 t x: exact x(1) = x0 e; also integrates over a sub-interval."""
    x0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    x = ode.solve(lambda t, x: 2 * t * x, x0, 200, solver)
    torch.testing.assert_close(x, x0 * math.e, rtol=2e-2 if solver == "euler" else 1e-4, atol=0)
    back = ode.solve(lambda t, x: 2 * t * x, x, 200, solver, t0=1.0, t1=0.0)
    torch.testing.assert_close(back, x0, rtol=2e-2 if solver == "euler" else 1e-4, atol=0)


@pytest.mark.parametrize("solver", SOLVERS)
def test_nfe_counts_velocity_evaluations(solver):
    calls = []

    def v(t, x):
        calls.append(t)
        return torch.zeros_like(x)

    ode.solve(v, torch.zeros(5, 3), 7, solver)
    assert len(calls) == ode.nfe(solver, 7) == {"euler": 7, "midpoint": 14, "heun": 14, "rk4": 28, "ab2": 8}[solver]
    h = 1 / 7
    last = {"euler": 1 - h, "midpoint": 1 - h / 2, "heun": 1.0, "rk4": 1.0, "ab2": 1 - h}[solver]
    assert min(calls) == 0.0 and max(calls) == pytest.approx(last)


def test_no_grad_and_errors():
    x0 = torch.ones(4, requires_grad=True)
    out = ode.solve(lambda t, x: -x, x0, 3, "rk4")
    assert not out.requires_grad
    with pytest.raises(ValueError, match="unknown ODE solver"):
        ode.solve(lambda t, x: x, x0, 3, "dopri5")
    with pytest.raises(ValueError, match="steps"):
        ode.solve(lambda t, x: x, x0, 0, "euler")


def test_late_grid_beats_equal_steps_where_the_field_stiffens():
    """Noise to a narrow Gaussian N(mu, sigma^2) (sigma = 0.05): the exact flow-matching velocity
    ``mu + (t sigma^2 - (1 - t)) / ((1 - t)^2 + t^2 sigma^2) (x - t mu)`` grows like 1 / sigma^2
    near t = 1 and maps z to mu + sigma z. At 4 and 8 midpoint steps the late grid's error is a
    fraction of the uniform grid's; at 200 steps both are exact."""
    mu, sigma = 1.5, 0.05

    def v(t: float, x: torch.Tensor) -> torch.Tensor:
        return mu + (t * sigma**2 - (1 - t)) / ((1 - t) ** 2 + t**2 * sigma**2) * (x - t * mu)

    z = torch.linspace(-3, 3, 61, dtype=torch.float64)
    exact = mu + sigma * z
    err = {(g, n): float((ode.solve(v, z, n, "midpoint", grid=g) - exact).abs().max())
           for g in ode.GRIDS for n in (4, 8, 200)}
    for n in (4, 8):
        assert err["late", n] < 0.5 * err["uniform", n], (n, err)
    assert err["late", 200] < 1e-3 and err["uniform", 200] < 1e-3
    assert ode.time_grid(3, "late", 1.0, 0.0) == pytest.approx([1.0, 4 / 9, 1 / 9, 0.0])
    with pytest.raises(ValueError, match="unknown time grid 'cosine'"):
        ode.solve(v, z, 4, grid="cosine")


def test_ab2_on_a_non_uniform_grid_and_against_midpoint_at_equal_evaluations():
    """ab2's variable-step weights: second order on the late grid too; at equal evaluations (ab2 with
    16 steps, 17 NFE; midpoint with 8, 16 NFE) its error on the damped rotation is below midpoint's."""
    v, x0, exact = _linear_problem()
    e = [float((ode.solve(v, x0, n, "ab2", grid="late") - exact).abs().max()) for n in (32, 64)]
    assert math.log2(e[0] / e[1]) == pytest.approx(2.0, abs=0.3)
    e_ab2 = float((ode.solve(v, x0, 16, "ab2") - exact).abs().max())
    e_mid = float((ode.solve(v, x0, 8, "midpoint") - exact).abs().max())
    assert e_ab2 < e_mid, (e_ab2, e_mid)
