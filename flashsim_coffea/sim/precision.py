"""Arithmetic precision of the flows' velocity evaluations: float32, or bfloat16 where the hardware has it.

The flows spend most of the engine's time in the matrix products of their velocity networks.
On CPUs with native bfloat16 dot products (``avx512_bf16`` or ``amx_bf16``: AMD Zen 4 and later,
Intel Cooper Lake / Sapphire Rapids and later) and on CUDA GPUs with bfloat16, evaluating them
under :func:`torch.autocast` in bfloat16 is 2-3x faster; the ODE state, the solver's updates,
the noise and every other model (efficiency, count) stay float32. Measured here (AMD EPYC,
``avx512_bf16``; shipped models, 2000 ``zh_llbb`` events, 8 midpoint steps, one thread): the
velocity network 2.3x faster, the whole engine 1.7x (813 -> 1400 events/s on a loaded machine);
flash samples from the same noise in float32 and bfloat16 differ by a median W1/σ of 0.001-0.002
per field, at or below the validation's statistical floors (0.001-0.01; docs/performance.md). Without
native support bfloat16 is emulated and slower than float32, so ``auto`` takes it only where
the hardware has it.

``auto`` is the engine's default (2026-12-07: the shipped set on 20k held-out ``zh_llbb`` events, K = 4, in
both precisions from the same seed: every collection's two-sample AUC and median W1/σ equal within the
classifier seeds' spread, 2 workers 1770 -> 3050 events/s; docs/performance.md). Its samples depend on the
machine: a job spread over nodes with and without native bfloat16 mixes the two, and the same seed gives the
same output only on the same kind of CPU. ``float32`` gives the same output on every machine up to float
round-off (the doctests that print sampled values name it). A models index may name a precision
(``precision``), and :meth:`flashsim_coffea.sim.engine.FlashSim.load`, ``flashsim simulate|validate|bench
--precision`` and the processor take one.

Example:
    >>> resolve("float32", "cpu"), resolve("bfloat16", "cpu")
    ('float32', 'bfloat16')
    >>> resolve("auto", "cpu") == ("bfloat16" if native_bfloat16("cpu") else "float32")
    True

References:
    Kalamkar et al., A Study of BFLOAT16 for Deep Learning Training (arXiv:1905.12322).
"""

from __future__ import annotations

from functools import cache

import torch

#: precisions a models index or a caller may name.
PRECISIONS = ("float32", "bfloat16", "auto")
#: CPU flags (``/proc/cpuinfo``) of native bfloat16 dot products.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@cache
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:  # not Linux: no flags known, float32
        pass
    return frozenset()


def native_bfloat16(device: str | torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices natively (CPU flags, or CUDA's own check)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return any(flag in _cpu_flags() for flag in BF16_CPU_FLAGS)


def resolve(precision: str, device: str | torch.device) -> str:
    """``float32`` or ``bfloat16`` for ``precision`` on ``device`` (``auto``: bfloat16 where native)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision


def velocity(v, precision: str, device: str | torch.device):
    """``v(t, x)`` evaluated in ``precision`` (resolved: ``float32`` or ``bfloat16``), returning float32."""
    if precision == "float32":
        return v
    kind = torch.device(device).type

    def v_low(t: float, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(kind, dtype=torch.bfloat16):
            return v(t, x).float()

    return v_low
