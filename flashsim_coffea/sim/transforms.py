"""Per-variable invertible preprocessing of flow targets, declared as data.

A target column is declared by a *spec*, a JSON-able dict such as
``{"kind": "ratio", "gen": "pt"}``. :func:`make` turns a spec into a transform;
``fit`` learns its constants from training data, ``forward`` maps reco values to the
flow's space and ``inverse`` maps flow samples back, and ``to_dict`` gives a JSON-able
dict (spec plus fitted constants) that :func:`from_dict` turns back into the same
transform. A :class:`Pipeline` chains the columns of one model and standard-scales
every output dimension last.

Kinds (``y`` is the flow-space value, ``g`` the candidate's gen value):

==========  =======================================================  ===================
kind        forward                                                  inverse
==========  =======================================================  ===================
``plain``   ``y = x``                                                clip to range
``ratio``   ``y = x / g`` (``gen``)                                  ``x = y * g``
``diff``    ``y = x - g`` (``gen``)                                  ``x = y + g``
``angle``   ``y = wrap(x)``                                          ``x = wrap(y)`` (no clip)
``dphi``    ``y = wrap(x - g)`` (``gen``)                            ``x = wrap(y + g)``
``log``     ``y = log(x + offset)``                                  ``exp(y) - offset``
``asinh``   ``y = asinh((x - offset) / scale)``                      ``offset + scale sinh(y)``
``logit``   ``u = (x-lo)/(hi-lo)`` clipped to [eps, 1-eps], logit u  ``lo + (hi-lo) σ(y)``
            (``lo``/``hi`` left out: fitted, the training range + 1%)
``quan-``   ``y = Φ⁻¹(F(x))``, ``F`` between quantiles at knots even   ``F⁻¹(Φ(y))``, a point
``tile``    in ``y``; a point mass spread over its probabilities     mass's band onto it
``integer`` rank in the seen values (or the value) + U(-h, h)        round, snap to seen
``flag``    ``integer`` on {0, 1}                                    y ≥ 0.5
``bits``    one dequantised flag per bit (1 column -> k dims)        nearest seen pattern
``onehot``  one dequantised flag per listed value (1 column -> k     the largest dim's
            dims)                                                    value
``vid``     one dequantised level per cut of a VID bitmap (``cuts``,    round, clip, pack
            ``bits``; 1 column -> ``cuts`` dims)
``sign``    flag of ``sign(x) * sign(g)`` (``gen`` optional)         ±1 (times sign g)
``spike``   ``then`` on x ≠ value; x == value -> N(loc, σ) below     y < threshold -> value
            (``side: high``: above)                                  (``high``: y >)
``default`` ``then`` on x ≠ value; x == value -> another row's y     ``then`` (never value)
``excess``  ``then`` on ``x - r``, ``r`` the model's target ``over``       ``r + then`` (≥ ``r``)
``grid``    ``then`` on x spread over its stored-precision cell        ``then`` (the engine rounds)
``regions`` the region among ``edges`` (dequantised) and the logit of    region, then position
            the position inside it (1 column -> 2 dims)
``circle``  ``r (cos x, sin x)``, ``r`` Rayleigh noise (1 column -> 2     ``atan2``
            dims: a flat angle is a standard normal in the plane)
``calibr-`` ``then`` on ``x - c(pt, |eta|)``, ``c`` the median of ``x`` in        ``c + then``
``ation``   pT knots per abs(η) region (``pt``, ``eta``: the model's targets)
``relat-``  ``then`` on ``link(x) - link(p)``, ``p`` a linear fit on other    ``link⁻¹(link(p) + then)``
``ion``     targets (``terms``) in link space, rounded to float32
==========  =======================================================  ===================

``wrap`` maps to [-π, π). Continuous kinds clip ``y`` to its training range on inverse
(``"clip": false`` turns it off), so outputs stay within the training support (the CMS
prototype clips in the same way). Discrete kinds dequantise with half-width
:data:`HALF_WIDTH` (0.15: levels are separated by an empty gap, see the constant) and
invert exactly by rounding. Randomness comes only from an explicit
``numpy.random.Generator``.

Example:
    >>> specs = {"pt": {"kind": "ratio", "gen": "pt"}, "jetId": {"kind": "integer"}}
    >>> cols = {"pt": np.array([30.0, 55.0]), "jetId": np.array([6, 2])}
    >>> gen = {"pt": np.array([32.0, 50.0])}
    >>> rng = np.random.default_rng(0)
    >>> pipe = Pipeline.from_specs(specs).fit(cols, gen, rng)
    >>> y = pipe.forward(cols, gen, rng)
    >>> y.shape, y.dtype
    ((2, 2), dtype('float32'))
    >>> back = pipe.inverse(y, gen)
    >>> back["jetId"].tolist(), np.allclose(back["pt"], cols["pt"])
    ([6, 2], True)
    >>> same = Pipeline.from_dict(pipe.to_dict())  # JSON-able, for the model card
    >>> same.inverse(y, gen)["jetId"].tolist()
    [6, 2]

References:
    Dequantisation: Uria, Murray, Larochelle, RNADE (arXiv:1306.0186);
    CMS FlashSim preprocessing (arXiv:2402.13684).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy.special import ndtr, ndtri

from flashsim_coffea.nanoaod.angles import wrap_phi
from flashsim_coffea.nanoaod.egamma_id import pack_vid, unpack_vid

#: Half-width of the dequantisation noise. Below 0.5, so rounding inverts it exactly, and
#: well below it, so that neighbouring levels are separated by an empty gap: a flow that
#: smears the edge of a dominant level (a flag that is 1 for 99% of objects) then leaks
#: into the gap, which rounds back, instead of into the next level. Measured on genuine
#: muons (zh_llbb, W1/σ of isTracker, 99.7% ones): 0.5 -> 0.60, 0.3 -> 0.12, 0.15 -> 0.035.
HALF_WIDTH = 0.15
#: the half-width in force (a :class:`Pipeline` with another ``half_width`` sets it while it runs).
_ACTIVE_HALF_WIDTH = [HALF_WIDTH]
#: Seen-value lists longer than this are not stored (integers then snap to the range).
MAX_VALUES = 4096

Array = np.ndarray


def wrap(phi: Array) -> Array:
    """Angles wrapped to [-π, π) (float64)."""
    return wrap_phi(np.asarray(phi, np.float64))


def _f64(x) -> Array:
    return np.asarray(x, dtype=np.float64)


def _noise(rng: np.random.Generator | None, n: int | tuple, what: str) -> Array:
    if rng is None:
        raise ValueError(f"{what} needs an explicit numpy Generator (rng=...) for its noise")
    return rng.uniform(-_ACTIVE_HALF_WIDTH[0], _ACTIVE_HALF_WIDTH[0], n)


def _nearest(values: Array, x: Array) -> Array:
    """Index of the nearest element of sorted ``values`` for each ``x``."""
    if len(values) < 2:
        return np.zeros(np.shape(x), np.int64)
    i = np.clip(np.searchsorted(values, x), 1, len(values) - 1)
    return np.where(np.abs(x - values[i - 1]) <= np.abs(values[i] - x), i - 1, i)


def _plain_number(v):
    v = float(v)
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


# -- continuous ---------------------------------------------------------------------------


@dataclass
class Plain:
    """Identity; the base of the continuous kinds (``y = f(x, gen)``, monotonic in ``x``).

    Arguments:
        clip: on inverse, clip ``y`` to ``range``, the [min, max] of ``y`` in training.
    """

    kind: ClassVar[str] = "plain"
    dims: ClassVar[int] = 1
    discrete: ClassVar[bool] = False
    needs_gen: ClassVar[bool] = False

    clip: bool = True
    range: list[float] | None = None

    def _f(self, x: Array, g: Array | None) -> Array:
        return x

    def _b(self, y: Array, g: Array | None) -> Array:
        return y

    def _g(self, gen) -> Array | None:
        if self.needs_gen and gen is None:
            raise ValueError(f"transform {self.kind!r} needs its gen column")
        return None if gen is None else _f64(gen)

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Plain:
        """Learn the range of ``y`` on training values ``x``."""
        y = self._f(_f64(x), self._g(gen))
        y = y[np.isfinite(y)]
        self.range = [float(y.min()), float(y.max())] if y.size else None
        return self

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        """Reco values -> flow space (float64)."""
        return self._f(_f64(x), self._g(gen))

    def inverse(self, y: Array, gen: Array | None = None) -> Array:
        """Flow space -> reco values (float64), clipped to the training range."""
        y = _f64(y)
        if self.clip and self.range is not None:
            y = np.clip(y, *self.range)
        return self._b(y, self._g(gen))

    def to_dict(self) -> dict[str, Any]:
        """Spec plus fitted constants, JSON-able."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plain:
        return cls(**{k: v for k, v in d.items() if k != "kind"})


@dataclass
class Ratio(Plain):
    """``y = x / gen`` (e.g. reco pT over gen pT); with ``above``, ``y = log((x - above) / gen)``.

    ``above``: a value written only above a threshold (NanoAOD's fat jets: pT > 170 GeV), learnt by its
    distance above it, so that the flow has no edge at the threshold to blur and every sample lands above. Learnt
    as the plain ratio, the reference's zh_llbb fat jets came out 45 % short at 170-172 GeV and 20 % over at 177-179
    (the flow's blur of the edge; the draws below it redrawn), so that 5.1 % had a raw pT below 170 GeV (no soft
    drop: ``msoftdrop``, ``n2b1``, ``n3b1`` at their defaults) for FullSim's 6.9 % (vbf_hmumu 5.8 % for 10.6 %).

    Example:
        >>> t = make({"kind": "ratio", "gen": "pt", "above": 169.875})
        >>> t = t.fit(np.array([170.0, 250.0, 400.0]), np.array([160.0, 240.0, 350.0]))
        >>> t.inverse(t.forward(np.array([170.0, 300.0]), np.array([150.0, 290.0])), np.array([150.0, 290.0])).tolist()
        [170.0, 300.0]
        >>> bool(t.inverse(np.array([-30.0]), np.array([150.0]))[0] > 169.875)  # below the training range: clipped to it
        True
    """

    kind: ClassVar[str] = "ratio"
    needs_gen: ClassVar[bool] = True
    gen: str = "pt"
    above: float | None = None

    def _f(self, x, g):
        if self.above is None:
            return x / g
        return np.log(np.maximum(x - self.above, 1e-6) / g)

    def _b(self, y, g):
        return y * g if self.above is None else self.above + g * np.exp(y)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self.above is None:  # cards of plain ratios as before
            del d["above"]
        return d


@dataclass
class Diff(Plain):
    """``y = x - gen`` (e.g. η residual)."""

    kind: ClassVar[str] = "diff"
    needs_gen: ClassVar[bool] = True
    gen: str = "eta"

    def _f(self, x, g):
        return x - g

    def _b(self, y, g):
        return y + g


@dataclass
class Angle(Plain):
    """An azimuth learnt as itself, wrapped to [-π, π) on inverse instead of clipped to the training range.

    A flow smooths the edges of a density flat in φ (the pileup jets', given event-level conditioning only):
    some samples land beyond ±π. Clipped, they made a point mass at exactly ±π (3.5 % of the shipped
    ``Jet_pileup`` jets on zh_llbb); wrapped, the mass beyond one edge fills the dip inside the other, and a
    uniform density smoothed by any kernel and wrapped is uniform again.

    Example:
        >>> t = make({"kind": "angle"}).fit(np.array([-3.0, 0.0, 3.1]))
        >>> t.inverse(np.array([0.5, 3.3, -3.4])).round(4).tolist()
        [0.5, -2.9832, 2.8832]
    """

    kind: ClassVar[str] = "angle"
    clip: bool = False

    def _f(self, x, g):
        return wrap(x)

    def _b(self, y, g):
        return wrap(y)


@dataclass
class DPhi(Plain):
    """``y = wrap(x - gen)``; inverse ``wrap(y + gen)``, both in [-π, π)."""

    kind: ClassVar[str] = "dphi"
    needs_gen: ClassVar[bool] = True
    gen: str = "phi"

    def _f(self, x, g):
        return wrap(x - g)

    def _b(self, y, g):
        return wrap(y + g)


@dataclass
class Log(Plain):
    """``y = log(x + offset)``; arguments below 1e-12 are raised to it."""

    kind: ClassVar[str] = "log"
    offset: float = 0.0

    def _f(self, x, g):
        return np.log(np.maximum(x + self.offset, 1e-12))

    def _b(self, y, g):
        return np.exp(y) - self.offset


@dataclass
class Asinh(Plain):
    """``y = asinh((x - offset) / scale)``: linear near ``offset``, logarithmic in the tails (signed, heavy-tailed)."""

    kind: ClassVar[str] = "asinh"
    scale: float = 1.0
    offset: float = 0.0

    def _f(self, x, g):
        return np.arcsinh((x - self.offset) / self.scale)

    def _b(self, y, g):
        return self.offset + self.scale * np.sinh(y)


def _inner(then, no_gen: str | None = None):
    """The transform a wrapping kind applies to what it passes on: ``then`` as a spec or a transform (default
    ``plain``); with ``no_gen`` (what the inner value is, for the error) it may not read a gen column."""
    t = Plain() if then is None else make(then) if isinstance(then, Mapping) else then
    if no_gen is not None and _gen_name(t) is not None:
        raise ValueError(f"{no_gen} cannot use a gen column ({t.kind!r})")
    return t


def _span(q) -> float:
    """The range of sorted values ``q`` (1 where they are all equal)."""
    return float(q[-1] - q[0]) or 1.0


@dataclass
class Quantile(Plain):
    """Gaussianised by the training values' quantiles: ``y = Phi^-1(F(x))``, ``F`` piecewise linear between
    ``knots + 1`` quantiles of the training sample (the normal-output quantile transform of scikit-learn's
    ``QuantileTransformer``). A variable whose mass piles into a narrow window beside thin tails (80 % of the
    muons' ``tunepRelPt`` in the cell of 1, after :class:`Grid` spread its 6-bit comb) is then a unit Gaussian
    in flow space: the pile as wide as its share, not a spike the flow must resolve. A value several quantiles
    share (a point mass: a score's saturation at -1, the float32 comb just above it) is spread in training over
    the probabilities it holds, uniformly (``forward`` with ``rng``: the randomised probability integral
    transform), so the flow learns a density there too; without ``rng`` it maps to their middle, and the inverse
    maps that whole band back onto the value.

    The knots lie evenly in flow space, ``z`` from ``-zmax`` to ``zmax`` (``zmax = Phi^-1(1 - 1/(2n))`` for ``n``
    training values: the end knots are the extreme values), so the tails are resolved as finely as the core. With
    knots even in probability (the model sets before the twentieth, ``zmax`` None), the top 1/256 of the values
    spanned one linear interval: the fat jets' ``lsf3`` from 1.1 to 19, where a flow sample beyond z = 2.7 landed
    anywhere (flash 1 % above 10, FullSim 0.1 % above 1.1).

    Arguments:
        knots: quantile intervals (default 1024).
        zmax: the flow-space end of the knots (fitted; ``None``: knots even in probability, as fitted before).
        step: the climb per knot that makes a run of equal quantiles strictly increasing (fitted:
            :data:`TIE_STEP` times the span of the middle 98 % of the values, so that one extreme value does not
            set it: a fat jet's ``lsf3`` of 3e11 among values up to 28 had made it 0.3 and the knots a ramp;
            ``None``: :data:`TIE_STEP` times the span of all the quantiles, as fitted before).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = np.where(rng.random(20000) < 0.8, rng.uniform(0.996, 1.008, 20000), rng.uniform(0.25, 3.0, 20000))
        >>> t = make({"kind": "quantile"}).fit(x)
        >>> y = t.forward(x)
        >>> pile = y[(x > 0.996) & (x < 1.008)]  # 80 % of the values: most of the Gaussian, not a spike
        >>> round(float(np.std(y)), 2), round(float(pile.min()), 1), round(float(pile.max()), 1)
        (1.0, -1.6, 1.0)
        >>> bool(np.allclose(t.inverse(y), x, atol=1e-3))
        True

        Half the values at exactly -1: spread over the lower half of the Gaussian in training, and back onto -1:

        >>> x = np.where(rng.random(20000) < 0.5, -1.0, rng.uniform(-0.9, 1.0, 20000))
        >>> t = make({"kind": "quantile"}).fit(x)
        >>> y = t.forward(x, rng=rng)
        >>> back = t.inverse(y).astype(np.float32)
        >>> round(float(np.std(y[x == -1])), 1), round(float(np.std(y)), 2), bool(np.all(back[x == -1] == -1))
        (0.6, 1.0, True)
    """

    kind: ClassVar[str] = "quantile"
    knots: int = 1024
    xs: list[float] | None = None
    zmax: float | None = None
    step: float | None = None

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Quantile:
        v = _f64(x)
        v = v[np.isfinite(v)]
        if v.size < 2:
            raise ValueError("quantile: fewer than two finite training values")
        self.zmax = float(ndtri(1.0 - 0.5 / v.size))
        q = np.quantile(v, np.clip((self._p(self.knots + 1) - 0.5 / v.size) / (1.0 - 1.0 / v.size), 0.0, 1.0))
        # strictly increasing for the inverse: a run of equal quantiles (a point mass) climbs by `step`
        self.step = self.TIE_STEP * (float(np.subtract(*np.quantile(v, [0.99, 0.01]))) or _span(q))
        q = np.maximum.accumulate(q) + np.arange(q.size) * self.step
        self.xs = q.tolist()
        return super().fit(x, gen, rng)

    #: the climb ``fit`` gives a run of equal quantiles, and the distance within which values count as tied,
    #: both relative to the span of the values (:attr:`step`)
    TIE_STEP: ClassVar[float] = 1e-12
    TIE_TOL: ClassVar[float] = 4e-12

    def _step(self) -> float:
        """The climb per knot (cards fitted before :attr:`step`: relative to the span of the quantiles)."""
        return self.step if self.step is not None else self.TIE_STEP * _span(np.asarray(self.xs))

    def _tol(self) -> float:
        """The distance within which values count as tied: :data:`TIE_TOL` in the units of :meth:`_step`."""
        return self.TIE_TOL / self.TIE_STEP * self._step()

    def _p(self, count: int | None = None) -> np.ndarray:
        """The knots' probabilities (``count`` of them; default: as many as the fitted quantiles)."""
        count = len(self.xs) if count is None else count
        if self.zmax is None:  # as fitted before the twentieth set: even in probability
            eps = 0.25 / (count - 1)  # the ends: Phi^-1 finite (about +-3.4 at 256 knots)
            return np.linspace(eps, 1.0 - eps, count)
        return ndtr(np.linspace(-self.zmax, self.zmax, count))

    def _f(self, x, g):
        return ndtri(np.interp(x, self.xs, self._p()))

    def _q0(self) -> np.ndarray:
        """The quantiles before ``fit`` made them strictly increasing: a run of equal ones is a point mass."""
        xs = np.asarray(self.xs)
        return xs - np.arange(xs.size) * self._step()

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        v = _f64(x)
        xs, p, q0 = np.asarray(self.xs), self._p(), self._q0()
        tol = self._tol()
        lo = np.searchsorted(q0, v - tol, "left")
        hi = np.searchsorted(q0, v + tol, "right")
        tied = hi - lo >= 2
        u = np.interp(v, xs, p)
        if tied.any():
            a, b = p[lo[tied]], p[hi[tied] - 1]
            w = rng.random(int(tied.sum())) if rng is not None else 0.5
            u[tied] = a + w * (b - a)
        return ndtri(u)

    def _b(self, y, g):
        u, p, xs, q0 = ndtr(y), self._p(), np.asarray(self.xs), self._q0()
        out = np.interp(u, p, xs)
        i = np.clip(np.searchsorted(p, u) - 1, 0, len(p) - 2)
        tied = np.abs(q0[i + 1] - q0[i]) <= self._tol()  # inside a point mass's band
        out[tied] = q0[i[tied]]
        return out


@dataclass
class Logit(Plain):
    """Logit of a score bounded in [lo, hi], clipped to [eps, 1 - eps] of the interval.

    Bounds left out of the spec are fitted: the training minimum / maximum widened by
    ``pad`` of the range. A variable piled against a hard edge (r9 of the reference
    detector stops at 0.97, the tau score at its loosest working point) then has a tail in
    flow space instead of a cliff, which a plain flow spills over (and the range clip
    turned into a point mass on the edge).
    """

    kind: ClassVar[str] = "logit"
    lo: float | None = None
    hi: float | None = None
    eps: float = 1e-6
    pad: float = 0.01

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Logit:
        seen = _f64(x)
        seen = seen[np.isfinite(seen)]
        if (self.lo is None or self.hi is None) and seen.size:
            width = float(seen.max() - seen.min()) or 1.0
            self.lo = float(seen.min()) - self.pad * width if self.lo is None else self.lo
            self.hi = float(seen.max()) + self.pad * width if self.hi is None else self.hi
        if self.lo is None or self.hi is None:
            raise ValueError("logit: no bounds given and no finite training values to fit them on")
        return super().fit(x, gen, rng)

    def _f(self, x, g):
        u = np.clip((x - self.lo) / (self.hi - self.lo), self.eps, 1 - self.eps)
        return np.log(u) - np.log1p(-u)

    def _b(self, y, g):
        return self.lo + (self.hi - self.lo) / (1 + np.exp(-y))


# -- discrete -----------------------------------------------------------------------------


@dataclass
class Integer:
    """Dequantised integer: rank among the seen values (or the value) plus U(-h, h) noise.

    Inverse rounds, and snaps to the values seen in training (e.g. jetId {0, 2, 6}).

    Arguments:
        rank: encode by rank in the seen values (dense codes 0, 1, 2 for {0, 2, 6}).
        values: allowed values (fitted when not given in the spec).
    """

    kind: ClassVar[str] = "integer"
    dims: ClassVar[int] = 1
    discrete: ClassVar[bool] = True
    needs_gen: ClassVar[bool] = False

    rank: bool = True
    values: list | None = None
    range: list[float] | None = None
    fixed: bool | None = None

    def __post_init__(self):
        if self.fixed is None:  # values given in the spec are kept, not refitted
            self.fixed = self.values is not None

    def _values(self) -> Array | None:
        return None if self.values is None else _f64(self.values)

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Integer:
        x = _f64(x)
        x = x[np.isfinite(x)]
        self.range = [float(x.min()), float(x.max())] if x.size else [0.0, 0.0]
        if not self.fixed:
            seen = np.unique(x)
            self.values = [_plain_number(v) for v in seen] if len(seen) <= MAX_VALUES else None
        return self

    def _code(self, x: Array) -> Array:
        v = self._values()
        if v is None:
            return np.rint(x)
        i = _nearest(v, x)
        return i.astype(np.float64) if self.rank else v[i]

    def _decode(self, y: Array) -> Array:
        k = np.floor(y + 0.5)
        v = self._values()
        if v is None:
            return np.clip(k, *self.range)
        if self.rank:
            return v[np.clip(k, 0, len(v) - 1).astype(np.int64)]
        return v[_nearest(v, y)]

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        c = self._code(_f64(x))
        return c + _noise(rng, c.shape, self.kind)

    def inverse(self, y: Array, gen: Array | None = None) -> Array:
        return self._decode(_f64(y)).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Integer:
        return cls(**{k: v for k, v in d.items() if k != "kind"})


@dataclass
class Flag(Integer):
    """Boolean flag: dequantised 0/1, inverse ``y >= 0.5``."""

    kind: ClassVar[str] = "flag"
    values: list | None = field(default_factory=lambda: [0, 1])


@dataclass
class Bits:
    """Bit-packed id decomposed into dequantised flags (1 column -> ``len(bits)`` dims).

    Example: Run-2 ``puId = 4*loose + 2*medium + tight`` with ``bits=[4, 2, 1]``. Inverse
    picks the seen packed value whose bit pattern is nearest (Euclidean) to the sample.
    """

    kind: ClassVar[str] = "bits"
    discrete: ClassVar[bool] = True
    needs_gen: ClassVar[bool] = False

    bits: list[int] = field(default_factory=lambda: [4, 2, 1])
    values: list[int] | None = None

    @property
    def dims(self) -> int:
        return len(self.bits)

    def _flags(self, x: Array) -> Array:
        x = np.asarray(x).astype(np.int64)
        return ((x[:, None] & np.asarray(self.bits, np.int64)[None, :]) != 0).astype(np.float64)

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Bits:
        self.values = [int(v) for v in np.unique(np.asarray(x).astype(np.int64))]
        return self

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        f = self._flags(x)
        return f + _noise(rng, f.shape, self.kind)

    def inverse(self, y: Array, gen: Array | None = None) -> Array:
        y = _f64(y).reshape(-1, self.dims)
        if not self.values:
            return (np.floor(y + 0.5).clip(0, 1) @ np.asarray(self.bits, np.float64)).astype(np.int64)
        v = np.asarray(self.values, np.int64)
        patterns = self._flags(v)  # (m, k)
        d2 = ((y[:, None, :] - patterns[None, :, :]) ** 2).sum(axis=2)
        return v[np.argmin(d2, axis=1)]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Bits:
        return cls(**{k: v for k, v in d.items() if k != "kind"})


@dataclass
class OneHot:
    """Categorical variable as one dequantised flag per allowed value (1 column -> ``len(values)`` dims).

    For categories whose codes have no meaningful order, such as the tau ``decayMode``
    {0, 1, 2, 10, 11}: dequantised as one integer, a rare code between two common ones
    (2, 2% of fake taus) is filled by what the flow smears between its neighbours (71% of
    the flash decay-mode-2 taus on ttbar with ``integer``). As one-hot vectors every pair of
    categories is equally far apart. Inverse: the value of the largest dimension (argmax,
    Hoogeboom et al., "Argmax flows", arXiv:2102.05379).

    Example:
        >>> t = make({"kind": "onehot", "values": [0, 1, 2, 10, 11]})
        >>> x = np.array([10, 0, 2, 11])
        >>> t.inverse(t.fit(x).forward(x, rng=np.random.default_rng(0))).tolist()
        [10, 0, 2, 11]
    """

    kind: ClassVar[str] = "onehot"
    discrete: ClassVar[bool] = True
    needs_gen: ClassVar[bool] = False

    values: list = field(default_factory=list)

    def __post_init__(self):
        if len(self.values) < 2 or len(set(self.values)) != len(self.values):
            raise ValueError(f"onehot needs two or more distinct values, got {self.values!r}")

    @property
    def dims(self) -> int:
        return len(self.values)

    def _index(self, x: Array) -> Array:
        x = _f64(x)
        v = _f64(self.values)
        i = np.argmin(np.abs(x[:, None] - v[None, :]), axis=1)
        bad = v[i] != x
        if bad.any():
            raise ValueError(f"onehot: value {_plain_number(x[bad][0])} is not one of the declared values {self.values}")
        return i

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> OneHot:
        x = _f64(x)
        self._index(x[np.isfinite(x)])  # every training value must be declared
        return self

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        f = np.eye(self.dims)[self._index(x)]
        return f + _noise(rng, f.shape, self.kind)

    def inverse(self, y: Array, gen: Array | None = None) -> Array:
        y = _f64(y).reshape(-1, self.dims)
        return _f64(self.values)[np.argmax(y, axis=1)].astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "values": list(self.values)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OneHot:
        return cls(values=list(d.get("values", [])))


@dataclass
class Vid:
    """A VID nested working-point bitmap as one dequantised integer per cut (1 column -> ``cuts`` dims).

    CMSSW packs, for each cut of an e/gamma ID cut flow, the number of nested working points it
    passes in ``bits`` bits (:func:`flashsim_coffea.nanoaod.egamma_id.pack_vid`); as separate bits
    the levels would lose their order and the packed integer is no distance at all. Each cut's
    level is dequantised like ``integer``; inverse rounds, clips to the levels seen per cut and
    packs, so every sample is a valid bitmap.

    With ``tiles``, each cut's level is a band of the normal quantiles as wide as the level's share of the
    training objects (the ``quantile`` transform's tiling of point masses): a rare level between two common
    ones is a narrow band, and the flow's blur across band edges moves little into it. Dequantised on unit
    intervals, the flash electrons' dEtaInSeed levels came out 629 / 756 / 581 / 508 / 3205 for FullSim's
    747 / 428 / 930 / 239 / 3304 (vbf_hmumu, 20k held-out events; single-level AUC 0.58), tiled 977 / 255 / 906 /
    263 / 3281 (0.52). Not for pass/fail bits: the bands touch, where the dequantisation's half-width below 0.5 leaves
    a gap between two levels, and a tiled 1-bit HEEP bitmap came out worse (its twelve bits' AUC 0.505 -> 0.608).

    Example:
        >>> t = make({"kind": "vid", "cuts": 3, "bits": 2})
        >>> x = np.array([0b110110, 0b111111, 0])  # levels (2, 1, 3), (3, 3, 3), (0, 0, 0)
        >>> y = t.fit(x).forward(x, rng=np.random.default_rng(0))
        >>> y.shape, t.inverse(y).tolist()
        ((3, 3), [54, 63, 0])
        >>> tiled = make({"kind": "vid", "cuts": 3, "bits": 2, "tiles": True})
        >>> y = tiled.fit(x).forward(x, rng=np.random.default_rng(0))
        >>> tiled.inverse(y).tolist(), tiled.probs[1]  # cut 1: levels 0, 1, 3 a third each
        ([54, 63, 0], [0.333333, 0.333333, 0.0, 0.333334])
    """

    kind: ClassVar[str] = "vid"
    discrete: ClassVar[bool] = True
    needs_gen: ClassVar[bool] = False

    cuts: int = 1
    bits: int = 1
    max_level: list[int] | None = None
    tiles: bool = False
    #: fitted with ``tiles``: per cut, each level's share of the training objects
    probs: list[list[float]] | None = None

    @property
    def dims(self) -> int:
        return self.cuts

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Vid:
        lv = unpack_vid(np.asarray(x).astype(np.int64), self.cuts, self.bits)
        self.max_level = [int(m) for m in lv.max(axis=0)] if len(lv) else [(1 << self.bits) - 1] * self.cuts
        if self.tiles:
            n = 1 << self.bits
            share = [np.bincount(lv[:, c], minlength=n) / max(len(lv), 1) for c in range(self.cuts)]
            # rounded, the last level takes the rest: the shares sum to 1 exactly
            self.probs = [[*np.round(p[:-1], 6).tolist(), round(1.0 - float(np.round(p[:-1], 6).sum()), 6)]
                          for p in share]
        return self

    def _edges(self) -> np.ndarray:
        """(cuts, levels + 1) cumulative shares: level L holds (edges[L], edges[L + 1])."""
        if self.probs is None:
            raise ValueError("a tiled 'vid' transform must be fitted first")
        return np.concatenate([np.zeros((self.cuts, 1)), np.cumsum(self.probs, axis=1)], axis=1)

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        lv = unpack_vid(np.asarray(x).astype(np.int64), self.cuts, self.bits)
        if not self.tiles:
            return lv.astype(np.float64) + _noise(rng, lv.shape, self.kind)
        if rng is None:
            raise ValueError("vid needs an explicit numpy Generator (rng=...) for its noise")
        e, cut = self._edges(), np.arange(self.cuts)[None, :]
        lo, hi = e[cut, lv], e[cut, lv + 1]
        u = lo + rng.uniform(0.0, 1.0, lv.shape) * (hi - lo)
        return ndtri(np.clip(u, 1e-7, 1.0 - 1e-7))

    def inverse(self, y: Array, gen: Array | None = None) -> Array:
        top = self.max_level if self.max_level is not None else [(1 << self.bits) - 1] * self.cuts
        y = _f64(y).reshape(-1, self.dims)
        if self.tiles:  # the level whose band holds the sample; an empty level's band has no width
            e, u = self._edges(), ndtr(y)
            lv = np.stack([np.searchsorted(e[c, 1:-1], u[:, c], side="right") for c in range(self.cuts)], axis=1)
            lv = np.minimum(lv, np.asarray(top)[None, :])
        else:
            lv = np.clip(np.floor(y + 0.5), 0, np.asarray(top, np.float64)[None, :]).astype(np.int64)
        return pack_vid(lv.astype(np.int64), self.bits).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "cuts": self.cuts, "bits": self.bits, "max_level": self.max_level}
        return {**d, "tiles": True, "probs": self.probs} if self.tiles else d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Vid:
        return cls(**{k: v for k, v in d.items() if k != "kind"})


@dataclass
class Sign:
    """Charge-like ±1 as a dequantised flag of ``sign(x) * sign(gen)`` (``gen`` may be None).

    With ``gen="charge"`` the flow learns the charge-flip probability; inverse gives ±1
    times the gen sign (gen 0 counts as +).
    """

    kind: ClassVar[str] = "sign"
    dims: ClassVar[int] = 1
    discrete: ClassVar[bool] = True

    gen: str | None = None

    @property
    def needs_gen(self) -> bool:
        return self.gen is not None

    def _gs(self, gen) -> Array | float:
        if self.gen is None:
            return 1.0
        if gen is None:
            raise ValueError("transform 'sign' with a gen column needs it")
        return np.where(_f64(gen) < 0, -1.0, 1.0)

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Sign:
        return self

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        f = (_f64(x) * self._gs(gen) > 0).astype(np.float64)
        return f + _noise(rng, f.shape, self.kind)

    def inverse(self, y: Array, gen: Array | None = None) -> Array:
        s = np.where(_f64(y) >= 0.5, 1.0, -1.0) * self._gs(gen)
        return s.astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "gen": self.gen}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Sign:
        return cls(gen=d.get("gen"))


# -- zero/default inflation ---------------------------------------------------------------


@dataclass
class Spike:
    """Zero/default-inflated variable: a point mass at ``value`` plus a continuous part.

    Values within ``atol`` of ``value`` are replaced by truncated (±4σ) Gaussian noise at
    ``loc = lo - gap*s`` with σ = ``sigma*s``, where ``lo`` and ``s`` are the minimum and
    the standard deviation of the continuous part after ``then``. Inverse: ``y`` below
    ``threshold`` (halfway between the top of the noise and ``lo``) gives ``value``,
    the rest goes through ``then``'s inverse (as the CMS prototype's "unsmear").
    ``side="high"`` mirrors it: the noise sits above the continuous part's maximum, for a
    point mass at the top of a range (a saturated score at 1, ``neHEF`` = 1), so that
    the flow sees it next to the values it borders. Spikes nest (``then`` a spike) for
    point masses at both ends.

    A ``spread`` spike is a narrow pile rather than a point: the values within ``atol`` of ``value`` keep their
    own distribution there, mapped by their quantiles (``band``, a fitted :class:`Quantile`) onto the spike's
    noise in forward and back in inverse. A fat jet that soft drop grooms to one particle has the mass of that
    particle as ``msoftdrop``: the muon's (0.09-0.15 GeV after the detector's resolution; 29 % of the vbf_hmumu
    fat jets, whose muons the AK8 clustering takes in) or an electron's (1e-4-1e-3 GeV), piles the flow learning
    ``msoftdrop`` as a fraction of the jet mass spread over 0.01-0.5 GeV.

    Arguments:
        value: the spike value (0 for muEF, -1 for defaults), or ``"min"`` / ``"max"``: fitted as the
            training values' end, for a score clipped to a range and stored rounded (the reference
            detector's PNet b score piles 2.9 % of the zh jets at its top stored value 0.99902).
        then: spec or transform of the continuous part (default ``plain``).
        atol: the half-width of the window around ``value`` that the spike takes.
        side: ``"low"`` (noise below the continuous part) or ``"high"`` (above).
        spread: keep the values' spread inside the window (``band``: their quantiles, fitted).

    Example:
        >>> t = make({"kind": "spike", "value": 1.0, "side": "high", "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}})
        >>> x = np.array([0.2, 0.5, 0.9, 1.0])
        >>> rng = np.random.default_rng(0)
        >>> t.inverse(t.fit(x, rng=rng).forward(x, rng=rng)).round(9).tolist()
        [0.2, 0.5, 0.9, 1.0]
        >>> t = make({"kind": "spike", "value": "max", "side": "high", "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}})
        >>> t.fit(np.array([0.3, 0.6, 0.999, 0.999]), rng=rng).value
        0.999

        A pile 0.09-0.13 beside a continuum, kept as it is (``spread``):

        >>> t = make({"kind": "spike", "value": 0.11, "atol": 0.04, "spread": True, "then": {"kind": "log"}})
        >>> x = np.r_[rng.uniform(0.09, 0.13, 200), rng.uniform(5.0, 50.0, 200)]
        >>> bool(np.allclose(t.inverse(t.fit(x, rng=rng).forward(x, rng=rng)), x))
        True
    """

    kind: ClassVar[str] = "spike"
    dims: ClassVar[int] = 1
    discrete: ClassVar[bool] = False

    value: float | str = 0.0
    then: Any = None
    atol: float = 0.0
    side: str = "low"
    gap: float = 1.0
    sigma: float = 0.1
    loc: float | None = None
    scale: float | None = None
    threshold: float | None = None
    spread: bool = False
    band: Any = None

    def __post_init__(self):
        if self.side not in ("low", "high"):
            raise ValueError(f"spike side must be 'low' or 'high', not {self.side!r}")
        if isinstance(self.value, str) and self.value not in ("min", "max"):
            raise ValueError(f"spike value must be a number, 'min' or 'max', not {self.value!r}")
        if self.spread and (isinstance(self.value, str) or not self.atol > 0):
            raise ValueError(f"a spread spike needs a numeric value and a window atol > 0, not {self.value!r}, {self.atol}")
        self.then = _inner(self.then)
        if isinstance(self.band, Mapping):
            self.band = from_dict(self.band)

    def _to_band(self, x: Array, rng: np.random.Generator | None) -> Array:
        """The window's values on the spike's noise: their quantiles' normal scores (±4) at ``loc``, ``scale``."""
        return self.loc + self.scale * np.clip(self.band.forward(x, None, rng), -4, 4)

    def _from_band(self, y: Array) -> Array:
        """Values on the spike's noise back into the window (:meth:`_to_band` inverted)."""
        x = self.band.inverse(np.clip((y - self.loc) / self.scale, -4, 4), None)
        return np.clip(x, self.value - self.atol, self.value + self.atol)

    def _center(self) -> float:
        """The value a row drawn onto the spike but decoded off it takes: the window's median for a spread spike."""
        return float(self.band.inverse(np.zeros(1), None)[0]) if self.band is not None else self.value

    @property
    def needs_gen(self) -> bool:
        return self.then.needs_gen

    @property
    def _sign(self) -> float:
        return 1.0 if self.side == "high" else -1.0

    def _mask(self, x: Array) -> Array:
        return np.abs(x - self.value) <= self.atol

    @staticmethod
    def _sub(g, m):
        if isinstance(g, tuple):  # the targets a relative ``then`` reads (an excess ``per`` another)
            return tuple(_f64(r)[m] for r in g)
        return None if g is None else _f64(g)[m]

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Spike:
        x = _f64(x)
        if isinstance(self.value, str):  # "min" / "max": the training values' end
            seen = x[np.isfinite(x)]
            if not seen.size:
                raise ValueError(f"spike value {self.value!r}: no finite training values to fit it on")
            self.value = float(seen.min() if self.value == "min" else seen.max())
        m = self._mask(x)
        self.then.fit(x[~m], self._sub(gen, ~m), rng)
        y = self.then.forward(x[~m], self._sub(gen, ~m), rng)
        y = y[np.isfinite(y)]
        self.band = Quantile(knots=256).fit(x[m], None, rng) if self.spread and m.sum() >= 2 else None
        # ``edge``: the continuous part's end next to the spike (its minimum, or maximum for "high")
        edge = (float(y.max()) if self.side == "high" else float(y.min())) if y.size else 0.0
        s = float(y.std()) if y.size > 1 else 1.0
        s = s if s > 0 else 1.0
        self.loc = edge + self._sign * self.gap * s
        self.scale = self.sigma * s
        self.threshold = 0.5 * (self.loc - self._sign * 4 * self.scale + edge)
        return self

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        x = _f64(x)
        m = self._mask(x)
        y = np.empty_like(x)
        y[~m] = self.then.forward(x[~m], self._sub(gen, ~m), rng)
        if m.any():
            if rng is None:
                raise ValueError("spike needs an explicit numpy Generator (rng=...) for its noise")
            if self.band is not None:
                y[m] = self._to_band(x[m], rng)
            else:
                y[m] = self.loc + self.scale * np.clip(rng.standard_normal(int(m.sum())), -4, 4)
        return y

    def inverse(self, y: Array, gen: Array | None = None) -> Array:
        y = _f64(y)
        m = y > self.threshold if self.side == "high" else y < self.threshold
        out = np.full_like(y, self.value)
        if self.band is not None:
            out[m] = self._from_band(y[m])
        out[~m] = self.then.inverse(y[~m], self._sub(gen, ~m))
        return out

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}
        d["then"] = self.then.to_dict()
        if not self.spread:  # cards as before the option
            d.pop("spread"), d.pop("band")
        elif self.band is not None:
            d["band"] = self.band.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Spike:
        return cls(**{k: v for k, v in d.items() if k != "kind"})


def point_of(t: Any, x: Array, ref: Any = None) -> np.ndarray:
    """Which point mass of the ``spike`` chain ``t`` (fitted; a ``default``'s value is none) each value of ``x`` sits
    on: ``k`` for the k-th nested ``spike`` (1-based, :func:`flashsim_coffea.specs.source.spike_points`), 0 for
    none (a categories-first source draws it, :mod:`flashsim_coffea.sim.categories`). An :class:`Excess` whose
    excess is such a chain: the point masses of the gap to its bound (``ref``: the bound's targets), a tie at 0.

    Example:
        >>> t = make({"kind": "spike", "value": 0.0, "then": {"kind": "spike", "value": 1.0, "side": "high",
        ...                                                   "then": {"kind": "logit"}}})
        >>> point_of(t, np.array([0.0, 0.3, 1.0, 0.0])).tolist()
        [1, 0, 2, 1]
        >>> tie = make({"kind": "excess", "over": "chg", "then": {"kind": "spike", "value": 0.0, "then": {"kind": "log"}}})
        >>> point_of(tie, np.array([0.2, 0.5]), np.array([0.2, 0.1])).tolist()  # all == chg: on the tie
        [1, 0]
    """
    x = _f64(x)
    if isinstance(t, Excess):
        return point_of(t.then, t._gap(x, ref))
    out = np.zeros(len(x), np.int64)
    rest = np.ones(len(x), bool)
    k = 0
    while isinstance(t, Spike):
        m = rest & t._mask(x)
        if t.kind == Spike.kind:
            k += 1
            out[m] = k
        rest &= ~m
        t = t.then
    return out


def place_point(t: Any, x: Array, k: Array, ref: Any = None) -> np.ndarray:
    """``x`` (the inverse of a fitted ``spike`` chain ``t``) on the drawn point masses ``k`` (:func:`point_of`): the
    k-th point's value where ``k`` > 0; where ``k`` is 0 and the flow still decoded a point, the continuous part's
    end next to that point (its inner transforms' inverse at the spike's threshold). An :class:`Excess`: its gap to
    the bound (``ref``) so placed.

    Example:
        >>> t = make({"kind": "spike", "value": 0.0, "then": {"kind": "logit"}})
        >>> t = t.fit(np.r_[np.zeros(50), np.linspace(0.1, 0.9, 50)], rng=np.random.default_rng(0))
        >>> place_point(t, np.array([0.0, 0.5, 0.0]), np.array([1, 1, 0])).round(3).tolist()  # the third: off 0
        [0.0, 0.0, 0.1]
    """
    x = _f64(x).copy()
    k = np.asarray(k, np.int64)
    if isinstance(t, Excess):
        return t._from_gap(place_point(t.then, t._gap(x, ref), k), ref)
    j = 0
    while isinstance(t, Spike):
        if t.kind == Spike.kind:
            j += 1
            on = k == j
            x[on & ~t._mask(x) if t.band is not None else on] = t._center()  # a spread spike keeps its values
            off = (k == 0) & t._mask(x)
            if off.any():
                x[off] = t.then.inverse(np.full(int(off.sum()), t.threshold), Spike._sub(ref, off))
        t = t.then
    return x


@dataclass
class Default(Spike):
    """A value NanoAOD writes where an algorithm does not run and a derive rule puts back (the Run-3
    jet taggers beyond the tracker, :mod:`flashsim_coffea.nanoaod.jet_defaults`): the flow never learns it.

    Forward gives the rows at ``value`` a stand-in, the ``then`` value of a random other row (the
    continuous part's own distribution: no point mass, no extra mode); inverse is ``then``'s inverse
    alone, so a sample never lands on ``value`` where the algorithm runs (a ``spike`` leaks there:
    23% of the central jets of a two-epoch model got the -1 of the forward ones).

    Example:
        >>> t = make({"kind": "default", "value": -1.0, "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}})
        >>> x = np.array([0.2, 0.5, 0.9, -1.0])
        >>> rng = np.random.default_rng(0)
        >>> y = t.fit(x, rng=rng).forward(x, rng=rng)
        >>> t.inverse(y).round(6).tolist()  # the last row's stand-in is another row's value
        [0.2, 0.5, 0.9, 0.9]
    """

    kind: ClassVar[str] = "default"

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Default:
        x = _f64(x)
        m = self._mask(x)
        self.then.fit(x[~m], self._sub(gen, ~m), rng)
        return self

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        x = _f64(x)
        m = self._mask(x)
        y = np.zeros_like(x)
        y[~m] = self.then.forward(x[~m], self._sub(gen, ~m), rng)
        if m.any() and (~m).any():
            if rng is None:
                raise ValueError("default needs an explicit numpy Generator (rng=...) for its stand-ins")
            y[m] = rng.choice(y[~m], int(m.sum()))
        return y

    def inverse(self, y: Array, gen: Array | None = None) -> Array:
        return self.then.inverse(_f64(y), gen)


# -- standard scaling ---------------------------------------------------------------------


# -- a value stored with a reduced mantissa ----------------------------------------------------


@dataclass
class Grid:
    """A float NanoAOD stores with ``bits`` fraction bits, spread uniformly over the values that round
    to it before ``then`` (dequantisation): a flow then learns a density, not a comb of a few values.

    ``Muon_tunepRelPt`` is stored with 6 bits: 81 % of the reference's zh muons sit at exactly 1, 15 %
    on the next three values (0.984, 0.992, 1.016) and the rest in tails to 0.25 and 3. Through a
    spike and a log, that comb was a hair-thin cluster beside a wide tail, and the flow smeared it:
    74 % at 1 and a 1-99 % range of 0.84-1.08 for FullSim's 0.98-1.02 (single-field AUC 0.60). The
    cell of a value is where :func:`flashsim_coffea.nanoaod.storage_precision.reduce_mantissa` maps to
    it (CMSSW's rounding: half up, but truncated just below a power of two), drawn by rejection.
    Inverse is ``then``'s rounded to the stored precision, which brings the comb back: a relation of the same
    flow that reads this target (an ``excess`` ``per`` it) then sees the value the file will hold, as the
    training rows did (``Muon_tkRelIso`` over ``pfRelIso03_chg / tunepRelPt``: with the unrounded
    ``tunepRelPt`` in the bound, 4 % of the flash muons fell below it once written, 0.5 % of FullSim's).
    Training only: ``forward`` needs an explicit ``rng``.

    Arguments:
        bits: the stored fraction bits (:data:`flashsim_coffea.nanoaod.storage_precision.PRECISION`).
        then: spec or transform of the spread values (default ``plain``).

    Example:
        >>> from flashsim_coffea.nanoaod.storage_precision import reduce_mantissa
        >>> t = make({"kind": "grid", "bits": 6, "then": {"kind": "asinh", "offset": 1.0, "scale": 2**-7}})
        >>> x = np.array([1.0, 1.0, 0.9921875, 1.015625, 0.25])
        >>> rng = np.random.default_rng(0)
        >>> y = t.fit(x, rng=rng).forward(x, rng=rng)
        >>> t.then.inverse(y).round(4).tolist()  # the spread values, learnt
        [1.0046, 1.0036, 0.9928, 1.0094, 0.2513]
        >>> t.inverse(y).tolist()  # the stored ones
        [1.0, 1.0, 0.9921875, 1.015625, 0.25]
    """

    kind: ClassVar[str] = "grid"
    dims: ClassVar[int] = 1
    discrete: ClassVar[bool] = False

    bits: int = 10
    then: Any = None

    def __post_init__(self):
        if not 1 <= self.bits < 23:
            raise ValueError(f"a grid needs 1-22 stored fraction bits, not {self.bits}")
        self.then = _inner(self.then)

    @property
    def needs_gen(self) -> bool:
        return self.then.needs_gen

    def spread(self, x: Array, rng: np.random.Generator) -> Array:
        """Each value of ``x`` replaced by a uniform draw among the values that round to it (0, NaN, inf kept)."""
        from flashsim_coffea.nanoaod.storage_precision import reduce_mantissa

        if rng is None:
            raise ValueError("grid needs an explicit numpy Generator (rng=...) for its noise")
        x = _f64(x)
        v = reduce_mantissa(x, self.bits).astype(np.float64)  # the stored value (x itself on stored data)
        out = v.copy()
        todo = np.flatnonzero(np.isfinite(v) & (v != 0))
        ulp = np.exp2(np.floor(np.log2(np.abs(v[todo]))) - self.bits)  # the spacing above |v|
        for _ in range(64):  # every cell holds at least a quarter of [v - ulp, v + ulp]: few rounds
            if not len(todo):
                break
            u = v[todo] + ulp * rng.uniform(-1.0, 1.0, len(todo))
            ok = reduce_mantissa(u, self.bits) == v[todo].astype(np.float32)
            out[todo[ok]] = u[ok]
            todo, ulp = todo[~ok], ulp[~ok]
        return out

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Grid:
        self.then.fit(self.spread(x, rng) if rng is not None else _f64(x), gen, rng)
        return self

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        return self.then.forward(self.spread(x, rng), gen, rng)

    def inverse(self, y: Array, gen: Array | None = None) -> Array:
        from flashsim_coffea.nanoaod.storage_precision import reduce_mantissa

        return reduce_mantissa(self.then.inverse(y, gen), self.bits).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "bits": self.bits, "then": self.then.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Grid:
        return cls(bits=int(d["bits"]), then=d.get("then"))


# -- a coordinate whose density steps at known edges ---------------------------------------------


@dataclass
class Regions:
    """A coordinate whose density steps at known edges (detector regions), learnt as two dimensions: the
    region it falls in (a dequantised integer: the flow learns its probabilities, not a smoothed edge) and
    the logit of its position inside the region.

    The reference detector's pileup jets are a different population in every calorimeter region: 13.4 %
    of them lie at 2.7 < |η| < 3.0 in zh_llbb, where a flow with η plain put 8.3 % (16.3 % and 20.1 % at
    1.3-2.5), smoothing the steps at the region edges.

    The position inside the region is the logit of its fraction ``u``, or (``"position": "probit"``) its normal
    quantile Φ⁻¹(u): a position flat in its region is then the flow's own base normal, where the logit's
    heavier tails put a sparse source's positions on the region's edges (930 apart fake electrons, 6k steps:
    the barrel's outer fifths 1.5-1.8 times full, its middle 0.6 times).

    Arguments:
        edges: the inner region edges, ascending; the outer bounds are fitted (training range).
        position: ``"logit"`` (model cards written before the option) or ``"probit"``.

    Example:
        >>> t = make({"kind": "regions", "edges": [-2.5, 2.5]})
        >>> x = np.array([-4.0, -1.0, 0.5, 2.6, 4.5])
        >>> rng = np.random.default_rng(0)
        >>> y = t.fit(x, rng=rng).forward(x, rng=rng)
        >>> y.shape, np.rint(y[:, 0]).tolist()  # regions 0, 1, 1, 2, 2
        ((5, 2), [0.0, 1.0, 1.0, 2.0, 2.0])
        >>> t.inverse(y).round(6).tolist()
        [-4.0, -1.0, 0.5, 2.6, 4.5]
    """

    kind: ClassVar[str] = "regions"
    dims: ClassVar[int] = 2
    discrete: ClassVar[bool] = False
    needs_gen: ClassVar[bool] = False

    edges: list[float] = field(default_factory=list)
    range: list[float] | None = None
    position: str = "logit"

    def __post_init__(self):
        if not self.edges or list(self.edges) != sorted(self.edges):
            raise ValueError(f"regions need ascending inner edges, not {self.edges}")
        if self.position not in ("logit", "probit"):
            raise ValueError(f"regions position is 'logit' or 'probit', not {self.position!r}")

    def _bounds(self) -> Array:
        lo, hi = self.range
        return np.array([lo, *self.edges, hi], np.float64)

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Regions:
        x = _f64(x)
        x = x[np.isfinite(x)]
        span = float(x.max() - x.min()) if x.size else 1.0
        pad = 1e-3 * span
        self.range = [min(float(x.min()) - pad, self.edges[0] - pad), max(float(x.max()) + pad, self.edges[-1] + pad)]
        return self

    def _locate(self, x: Array) -> tuple[Array, Array]:
        """The region of each value within the fitted bounds and its fraction of the way through it."""
        b = self._bounds()
        x = np.clip(_f64(x), b[0], b[-1])
        k = np.clip(self.region(x), 0, len(b) - 2)
        return k, (x - b[k]) / (b[k + 1] - b[k])

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        k, u = self._locate(x)
        u = np.clip(u, 1e-6, 1 - 1e-6)
        pos = ndtri(u) if self.position == "probit" else np.log(u / (1 - u))
        return np.stack([k + _noise(rng, k.shape, self.kind), pos], 1)

    def inverse(self, y: Array, gen: Array | None = None) -> Array:
        b = self._bounds()
        y = _f64(y).reshape(-1, 2)
        k = np.clip(np.floor(y[:, 0] + 0.5), 0, len(b) - 2).astype(np.int64)
        u = ndtr(y[:, 1]) if self.position == "probit" else 1.0 / (1.0 + np.exp(-y[:, 1]))
        return b[k] + u * (b[k + 1] - b[k])

    def region(self, x: Array) -> Array:
        """The region of each value (0 below the first inner edge; needs no fit).

        Example:
            >>> Regions(edges=[-2.5, 2.5]).region(np.array([-3.0, 0.0, 2.5])).tolist()
            [0, 1, 2]
        """
        return np.searchsorted(np.asarray(self.edges, np.float64), _f64(x), side="right").astype(np.int64)

    def move(self, x: Array, region: Array) -> Array:
        """Values moved into ``region`` at the same relative position they had inside their own region (a
        region drawn apart from the position, :mod:`flashsim_coffea.sim.categories`).

        Example:
            >>> t = make({"kind": "regions", "edges": [-2.5, 2.5]}).fit(np.array([-5.0, 5.0]))  # to +-5.01
            >>> t.move(np.array([0.0, 3.755]), np.array([2, 1])).round(4).tolist()  # midway, into (2.5, 5.01), ...
            [3.755, 0.0]
        """
        b = self._bounds()
        _, u = self._locate(x)
        r = np.clip(np.asarray(region, np.int64), 0, len(b) - 2)
        return b[r] + u * (b[r + 1] - b[r])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "edges": list(self.edges), "range": self.range,
                **({"position": self.position} if self.position != "logit" else {})}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Regions:
        return cls(edges=list(d["edges"]), range=d.get("range"), position=d.get("position", "logit"))


# -- an angle as a point in the plane ---------------------------------------------------------------


@dataclass
class Circle:
    """An azimuth learnt as a point in the plane, ``r (cos φ, sin φ)`` with a Rayleigh-distributed radius
    drawn afresh (the Box-Muller transform): a φ flat and independent of the rest is then exactly a standard
    normal in two dimensions, the flow's own base density, and ``atan2`` reads it back without an edge.

    The pileup jets' φ is flat, but a flow learning it on [-π, π) smooths the two edges: under-dispersed
    (standard deviation 1.715 for 1.814 at 8k steps, 1.798 at 30k), short of jets near ±π; wrapping
    (:class:`Angle`) only moves what crossed an edge. Dequantisation of a periodic coordinate, as RNADE's
    of an integer: noise that the inverse removes.

    Example:
        >>> t = make({"kind": "circle"})
        >>> x = np.array([-3.0, 0.0, 1.0, 3.1])
        >>> y = t.fit(x).forward(x, rng=np.random.default_rng(0))
        >>> y.shape, t.inverse(y).round(6).tolist()
        ((4, 2), [-3.0, 0.0, 1.0, 3.1])
        >>> u = np.random.default_rng(1).uniform(-np.pi, np.pi, 100_000)  # flat: unit normal coordinates
        >>> z = t.forward(u, rng=np.random.default_rng(2))
        >>> np.abs(z.mean(0)).max() < 0.01, z.std(0).round(2).tolist()
        (np.True_, [1.0, 1.0])

    Reference:
        Box, Muller, Ann. Math. Statist. 29 (1958) 610.
    """

    kind: ClassVar[str] = "circle"
    dims: ClassVar[int] = 2
    discrete: ClassVar[bool] = False
    needs_gen: ClassVar[bool] = False

    def fit(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Circle:
        return self

    def forward(self, x: Array, gen: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        if rng is None:
            raise ValueError("circle needs an explicit numpy Generator (rng=...) for its radius")
        x = _f64(x)
        r = np.sqrt(-2.0 * np.log1p(-rng.uniform(0.0, 1.0, x.shape)))
        return np.stack([r * np.cos(x), r * np.sin(x)], 1)

    def inverse(self, y: Array, gen: Array | None = None) -> Array:
        y = _f64(y).reshape(-1, 2)
        return wrap(np.arctan2(y[:, 1], y[:, 0]))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Circle:
        return cls()


# -- a target bounded below by another --------------------------------------------------------


@dataclass
class Excess:
    """A target never below another target ``over`` of the same model, learnt as its excess over it.

    NanoAOD's relative isolation is the charged sum plus the neutral sum less its pileup share,
    clipped at 0: ``pfRelIso03_all = pfRelIso03_chg + max(0, neutral - PU)``, so ``all >= chg`` and
    ``all == chg`` wherever the clip acts (half of the reference's leptons, a quarter with
    ``chg > 0``). Learnt apart, a flow put 11-16 % of its leptons below their charged part and none on
    it. Learnt as ``x - r`` through ``then`` (a ``spike`` at 0 for the clip), inverse ``r + max(0, ·)``
    with the ``over`` column the model samples with it: never below, exactly on it for the spike.

    The bound may be a line of the other target, ``scale * r + offset``, and on the other side (``below``:
    learnt as ``bound - x``): a secondary vertex's ``ndof = 2 sum(w) - 3`` over its tracks' fit weights
    ``w <= 1`` never exceeds ``2 ntracks - 3`` and sits just under it (FullSim's values pile below 1, 3,
    5, ...), which a flow learning ``ndof`` beside ``ntracks`` blurred (single-field AUC 0.61, zh_llbb).

    The bound may also be relative, ``scale * over / per + offset``: a photon's ``pfRelIso03_all`` is its raw
    charged sum ``pfChargedIsoPFPV`` plus the rho-corrected neutral sums, clipped at 0, over its pT, so it never
    falls below ``pfChargedIsoPFPV / pt`` (``per = "pt"``), both targets of the same flow. Or absolute,
    ``scale * over * times + offset``: an electron's track sum ``dr03TkSumPt`` (GeV) sums nearly the tracks of its
    relative charged isolation ``pfRelIso03_chg`` times its pT (``times = "pt"``).

    Or ``log`` (an offset ``o``): the log-ratio ``log((x + o) / (bound + o))`` on either side, no clip, for a target
    that is a fraction of another target, equal to it for many objects: a fat jet's ``msoftdrop`` is its ungroomed
    ``mass`` (times the subjets' over the jet's calibration, 1.00-1.015) wherever soft drop removes nothing, 18 % of
    the reference's zh_llbb fat jets; learnt beside ``mass`` the flow smeared that peak over 0.97-1.05 (single-field
    AUC 0.69 on vbf_hmumu, the fat jets' every-field classifier's strongest lever).

    Or ``signed``: the difference from the bound on either side, no clip, for a target that equals another for
    most objects and strays from it both ways: an electron's ``dr03TkSumPtHEEP`` and ``dr03TkSumPt`` sum the
    same tracks in the same cone with other vetoes (equal for 87 % of the reference's zh electrons, the HEEP sum
    larger for 2.5 %, smaller for 11 %); through ``quantile`` the tie at 0 stays exact. A ``floor`` keeps the
    sampled values at or above it (a sum is never negative: without it a flow's draws below the tie put 5 % of
    the flash HEEP sums below 0 where ``dr03TkSumPt`` was 0).

    Arguments:
        over: the model's target ``x`` never falls below (learnt by the same flow).
        then: spec or transform of the excess (default ``plain``; no ``gen`` kinds).
        scale, offset: the bound ``scale * over + offset`` (default the ``over`` target itself).
        below: the target never rises above the bound instead.
        per: a target of the same model dividing ``over`` in the bound (default none).
        times: a target of the same model multiplying ``over`` in the bound (default none).
        signed: learn ``x - bound`` as it is, negative too (``below`` does not apply).
        floor: the least value the inverse gives (default none).
        log: learn the log-ratio to the bound with this offset (``signed``, no ``below``; default none).

    Example:
        >>> t = make({"kind": "excess", "over": "chg", "then": {"kind": "spike", "value": 0.0,
        ...                                                      "then": {"kind": "log", "offset": 1e-3}}})
        >>> chg, iso = np.array([0.0, 0.1, 0.1, 0.3]), np.array([0.0, 0.1, 0.25, 0.4])
        >>> rng = np.random.default_rng(0)
        >>> y = t.fit(iso, chg, rng=rng).forward(iso, chg, rng=rng)
        >>> t.inverse(y, chg).round(9).tolist()
        [0.0, 0.1, 0.25, 0.4]
        >>> bool(np.all(t.inverse(np.linspace(-5, 5, 11), np.full(11, 0.2)) >= 0.2))
        True
        >>> sv = make({"kind": "excess", "over": "ntracks", "scale": 2.0, "offset": -3.0, "below": True,
        ...            "then": {"kind": "log", "offset": 1e-3}})
        >>> ntracks, ndof = np.array([2.0, 3.0, 3.0]), np.array([0.93, 2.88, 2.5])
        >>> y = sv.fit(ndof, ntracks, rng=rng).forward(ndof, ntracks, rng=rng)
        >>> sv.inverse(y, ntracks).round(9).tolist(), float(sv.inverse(np.array([9.0]), np.array([2.0]))[0]) <= 1
        ([0.93, 2.88, 2.5], True)
        >>> ph = make({"kind": "excess", "over": "pfChargedIsoPFPV", "per": "pt", "then": {"kind": "log", "offset": 1e-3}})
        >>> ch, pt, rel = np.array([0.0, 2.0]), np.array([20.0, 40.0]), np.array([0.1, 0.05])
        >>> y = ph.fit(rel, (ch, pt), rng=rng).forward(rel, (ch, pt), rng=rng)
        >>> ph.inverse(y, (ch, pt)).round(9).tolist(), ph.refs
        ([0.1, 0.05], ('pfChargedIsoPFPV', 'pt'))
        >>> tk = make({"kind": "excess", "over": "chg", "times": "pt", "signed": True, "floor": 0.0})
        >>> chg, pt, tks = np.array([0.0, 0.1, 0.1]), np.array([40.0, 50.0, 60.0]), np.array([0.0, 5.0, 4.0])
        >>> y = tk.fit(tks, (chg, pt), rng=rng).forward(tks, (chg, pt), rng=rng)
        >>> y.round(9).tolist(), tk.inverse(y, (chg, pt)).round(9).tolist(), tk.refs
        ([0.0, 0.0, -2.0], [0.0, 5.0, 4.0], ('chg', 'pt'))
        >>> d = make({"kind": "excess", "over": "tk", "signed": True, "then": {"kind": "quantile"}})
        >>> tk = rng.exponential(1.0, 1000) * (rng.random(1000) < 0.3)
        >>> heep = tk + np.where(rng.random(1000) < 0.2, rng.normal(0, 0.5, 1000), 0.0)
        >>> back = d.inverse(d.fit(heep, tk, rng=rng).forward(heep, tk, rng=rng), tk)
        >>> bool(np.allclose(back, heep)), int(np.sum(back < tk - 1e-9)) == int(np.sum(heep < tk))
        (True, True)
        >>> floored = make({"kind": "excess", "over": "tk", "signed": True, "floor": 0.0})
        >>> float(floored.inverse(np.array([-2.0]), np.ones(1))[0])
        0.0
        >>> msd = make({"kind": "excess", "over": "mass", "log": 1.0, "floor": 0.0, "then": {"kind": "quantile"}})
        >>> mass, groomed = np.array([40.0, 90.0, 130.0, 60.0]), np.array([40.4, 9.0, 131.3, 0.0])
        >>> y = msd.fit(groomed, mass, rng=rng).forward(groomed, mass, rng=rng)
        >>> msd.inverse(y, mass).round(6).tolist(), round(float(msd.inverse(np.zeros(1), np.array([99.0]))[0]), 3) >= 0
        ([40.4, 9.0, 131.3, 0.0], True)
    """

    kind: ClassVar[str] = "excess"
    dims: ClassVar[int] = 1
    discrete: ClassVar[bool] = False
    needs_gen: ClassVar[bool] = False

    over: str = ""
    then: Any = None
    scale: float = 1.0
    offset: float = 0.0
    below: bool = False
    per: str = ""
    times: str = ""
    signed: bool = False
    floor: float | None = None
    log: float | None = None

    def __post_init__(self):
        if self.signed and self.below:
            raise ValueError("an 'excess' transform is either 'signed' or 'below', not both")
        if self.log is not None and (self.below or self.log < 0):
            raise ValueError(f"a log-ratio 'excess' needs an offset >= 0 and no 'below' (got log={self.log})")
        if not self.over:
            raise ValueError("an 'excess' transform needs the target it exceeds ('over')")
        self.then = _inner(self.then, no_gen=f"the excess over {self.over!r}")

    @property
    def refs(self) -> tuple[str, ...]:
        """The targets the bound reads: ``over``, then ``per`` and ``times`` where given."""
        return (self.over, *(r for r in (self.per, self.times) if r))

    def read(self, values: Mapping[str, Array]):
        """The second input of this transform from the model's targets ``values``: ``over``, or a tuple of
        :attr:`refs`' values."""
        return tuple(values[r] for r in self.refs) if len(self.refs) > 1 else values[self.over]

    def _bound(self, ref) -> Array:
        if ref is None or (len(self.refs) > 1 and not isinstance(ref, tuple)):
            raise ValueError(f"an 'excess' transform needs the values of {list(self.refs)}")
        if len(self.refs) == 1:
            return self.scale * _f64(ref) + self.offset
        over, rest = _f64(ref[0]), list(ref[1:])
        if self.per:
            over = over / _f64(rest.pop(0))
        if self.times:
            over = over * _f64(rest.pop(0))
        return self.scale * over + self.offset

    def _gap(self, x: Array, ref) -> Array:
        if self.log is not None:
            return np.log((_f64(x) + self.log) / (self._bound(ref) + self.log))
        gap = self._bound(ref) - _f64(x) if self.below else _f64(x) - self._bound(ref)
        return gap if self.signed else np.maximum(gap, 0.0)

    def _from_gap(self, gap: Array, ref) -> Array:
        """The target from its gap to the bound (:meth:`_gap` inverted), at or above ``floor``."""
        if self.log is not None:
            x = (self._bound(ref) + self.log) * np.exp(gap) - self.log
        else:
            gap = gap if self.signed else np.maximum(gap, 0.0)
            x = self._bound(ref) - gap if self.below else self._bound(ref) + gap
        return x if self.floor is None else np.maximum(x, self.floor)

    def fit(self, x: Array, ref: Array | None = None, rng: np.random.Generator | None = None) -> Excess:
        self.then.fit(self._gap(x, ref), None, rng)
        return self

    def forward(self, x: Array, ref: Array | None = None, rng: np.random.Generator | None = None) -> Array:
        return self.then.forward(self._gap(x, ref), None, rng)

    def inverse(self, y: Array, ref: Array | None = None) -> Array:
        return self._from_gap(self.then.inverse(_f64(y), None), ref)

    def to_dict(self) -> dict[str, Any]:
        line = {"scale": self.scale, "offset": self.offset, "below": self.below} if (
            self.scale != 1.0 or self.offset != 0.0 or self.below) else {}
        per = {"per": self.per} if self.per else {}
        per.update({"times": self.times} if self.times else {})
        signed = {"signed": True} if self.signed else {}
        floor = {"floor": self.floor} if self.floor is not None else {}
        log = {"log": self.log} if self.log is not None else {}
        return {"kind": self.kind, "over": self.over, **per, **line, **signed, **floor, **log, "then": self.then.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Excess:
        return cls(over=d["over"], then=d.get("then"), scale=float(d.get("scale", 1.0)),
                   offset=float(d.get("offset", 0.0)), below=bool(d.get("below", False)), per=d.get("per", ""),
                   times=d.get("times", ""),
                   signed=bool(d.get("signed", False)), floor=None if d.get("floor") is None else float(d["floor"]),
                   log=None if d.get("log") is None else float(d["log"]))


@dataclass
class Calibration:
    """A jet's ``rawFactor`` learnt as its residual to the calibration the training jets show: a table of
    its median against the jet's own reco ``pt`` (knots at quantiles of log pT) in each abs(η) region.

    ``rawFactor = 1 - raw/corrected`` is the jet-energy correction read back. Where the correction is a
    function of the corrected jet alone (the reference's fat jets and subjets: an L2L3 table in pT and
    abs(η); CMS PUPPI jets, which have no pileup offset) the residual is zero up to NanoAOD's rounding, and
    flash gets the exact relation FullSim has, which a flow learning ``rawFactor`` beside ``pt`` only
    approximates (a tree classifier separated flash subjets on the pair). Where the correction also
    depends on something else (CHS jets' pileup offset ρ × area) the residual carries it.

    Arguments:
        pt, eta: the model's targets the table reads (learnt by the same flow).
        edges: the abs(η) edges of the calibration's regions, ascending from 0.
        knots: log-pT knots per region (quantiles of the training jets); values in between are linear
            in log pT, constant beyond the end knots.
        then: spec or transform of the residual (default ``plain``; no ``gen`` kinds).

    Example:
        >>> t = make({"kind": "calibration", "edges": [0.0, 1.3, 5.0]})
        >>> rng = np.random.default_rng(0)
        >>> pt, eta = rng.uniform(170, 900, 4000), rng.uniform(-2.4, 2.4, 4000)
        >>> raw = np.where(np.abs(eta) < 1.3, 0.02, 0.03) + 0.01 * 170 / pt  # a function of (pT, |eta|)
        >>> y = t.fit(raw, (pt, eta), rng).forward(raw, (pt, eta), rng)
        >>> float(np.abs(y).max()) < 2e-4  # the residual
        True
        >>> bool(np.allclose(t.inverse(y, (pt, eta)), raw))
        True
    """

    kind: ClassVar[str] = "calibration"
    dims: ClassVar[int] = 1
    discrete: ClassVar[bool] = False
    needs_gen: ClassVar[bool] = False

    edges: list[float] = field(default_factory=list)
    pt: str = "pt"
    eta: str = "eta"
    knots: int = 32
    then: Any = None
    #: fitted: per region, the knots' log pT and the median ``rawFactor`` there
    table: list[list[list[float]]] | None = None

    def __post_init__(self):
        if len(self.edges) < 2 or list(self.edges) != sorted(self.edges) or self.edges[0] != 0.0:
            raise ValueError(f"a calibration needs ascending |eta| edges from 0, not {self.edges}")
        if self.knots < 2:
            raise ValueError(f"a calibration needs at least 2 knots a region, not {self.knots}")
        self.then = _inner(self.then, no_gen="the residual of a calibration")

    @property
    def refs(self) -> tuple[str, str]:
        return (self.pt, self.eta)

    def _region(self, eta: Array) -> Array:
        return np.clip(np.searchsorted(self.edges, np.abs(eta), side="right") - 1, 0, len(self.edges) - 2)

    def _predict(self, ref) -> Array:
        if ref is None or self.table is None:
            raise ValueError("a calibration needs its fitted table and the jets' pt and eta")
        pt, eta = (_f64(r) for r in ref)
        x, k = np.log(np.maximum(pt, 1e-3)), self._region(eta)
        out = np.empty(len(x))
        for i, (lx, v) in enumerate(self.table):
            m = k == i
            out[m] = np.interp(x[m], lx, v)
        return out

    def fit(self, x: Array, ref=None, rng: np.random.Generator | None = None) -> Calibration:
        if ref is None:
            raise ValueError("a calibration needs the jets' pt and eta")
        x, (pt, eta) = _f64(x), (_f64(r) for r in ref)
        lx, k = np.log(np.maximum(pt, 1e-3)), self._region(eta)
        ok = np.isfinite(x) & np.isfinite(lx)
        every = self._knots(lx[ok], x[ok])
        # a region without enough jets for its own table takes the one of all jets
        self.table = [self._knots(lx[ok & (k == i)], x[ok & (k == i)]) if (ok & (k == i)).sum() >= 4 * self.knots
                      else every for i in range(len(self.edges) - 1)]
        self.then.fit(_f64(x) - self._predict(ref), None, rng)
        return self

    def _knots(self, lx: Array, x: Array) -> list[list[float]]:
        if lx.size == 0:
            return [[0.0, 1.0], [0.0, 0.0]]
        cuts = np.quantile(lx, np.linspace(0.0, 1.0, self.knots + 1))
        b = np.clip(np.searchsorted(cuts, lx, side="right") - 1, 0, self.knots - 1)
        keep = [i for i in range(self.knots) if np.any(b == i)]
        c = np.array([np.median(lx[b == i]) for i in keep])
        v = np.array([np.median(x[b == i]) for i in keep])
        if len(keep) < 2 or c[-1] - c[0] <= 0:
            return [[float(c[0]), float(c[0]) + 1.0], [float(v[0])] * 2]
        # the ends of the training range, extrapolated linearly from the two knots next to them
        ends = [(cuts[0], v[0] + (cuts[0] - c[0]) * (v[1] - v[0]) / max(c[1] - c[0], 1e-12)),
                (cuts[-1], v[-1] + (cuts[-1] - c[-1]) * (v[-1] - v[-2]) / max(c[-1] - c[-2], 1e-12))]
        c = np.concatenate([[ends[0][0]], c, [ends[1][0]]])
        v = np.concatenate([[ends[0][1]], v, [ends[1][1]]])
        keep = np.concatenate([[True], np.diff(c) > 0])
        return [c[keep].tolist(), v[keep].tolist()]

    def forward(self, x: Array, ref=None, rng: np.random.Generator | None = None) -> Array:
        return self.then.forward(_f64(x) - self._predict(ref), None, rng)

    def inverse(self, y: Array, ref=None) -> Array:
        return self._predict(ref) + self.then.inverse(_f64(y), None)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "edges": list(self.edges), "pt": self.pt, "eta": self.eta, "knots": self.knots,
                "then": self.then.to_dict(), "table": self.table}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        return cls(edges=list(d["edges"]), pt=d.get("pt", "pt"), eta=d.get("eta", "eta"), knots=int(d.get("knots", 32)),
                   then=d.get("then"), table=d.get("table"))


#: the links a :class:`Relation` knows: name -> (forward, inverse); ``atanh`` clips scores in [-1, 1] just inside
#: so that a saturated score (float32 rounds ``tanh`` beyond 9 to +-1) maps to a finite value
_ATANH_EDGE = 1.0 - 1e-9
#: a :class:`Relation` fits its coefficients on the rows whose scores stay below this in magnitude: nearer 1 the
#: float32 rounding of a written score moves its atanh by up to 6e-8 / (1 - x^2)
_FIT_EDGE = 0.999
_LINKS = {
    "identity": (lambda x: x, lambda y: y),
    "atanh": (lambda x: np.arctanh(np.clip(x, -_ATANH_EDGE, _ATANH_EDGE)), np.tanh),
}


@dataclass
class Relation:
    """A target (nearly) a function of other targets of its model, learnt as its residual to a linear relation
    fitted on the training values in a link space.

    In the reference detector ``mvaIso = tanh(atanh(mvaNoIso) - 7.2 min(pfRelIso03_all, 2))`` holds on every
    written electron (the score without isolation is the same badness less its isolation term); in CMS NanoAOD
    the two scores' ``atanh`` correlate at 0.986 (nano_tt_v12). A flow learning the three side by side places
    its samples near that surface, not on it, and a classifier sees the gap (held-out zh electrons: AUC 0.79 on
    the three scores, 0.53 on each alone). Learnt as the residual ``link(x) - link(p)`` to the prediction
    ``p = inverse_link(sum_i c_i term_i + c_0)``, ``term_i = link_i(min(target_i, max_i))``, with ``p`` rounded to
    float32 as NanoAOD writes it (a score saturated at -1 is then predicted at -1, not near it), the relation is
    exact wherever the training sample holds it exactly, and the residual carries the rest. The coefficients are
    a least-squares fit on the training rows off the links' saturation (scores within 0.999).

    Arguments:
        terms: the model's targets the prediction reads: ``{"of": name, "link": "identity" | "atanh", "max": m}``
            (``link`` default identity, ``max`` optional: the term is ``link(min(x, m))``).
        link: the link of the target itself (``atanh`` for a score in [-1, 1]).
        then: spec or transform of the residual (default ``plain``; no ``gen`` kinds).
        coef: fitted: one coefficient per term, then the intercept.

    Example:
        >>> t = make({"kind": "relation", "link": "atanh", "then": {"kind": "quantile"},
        ...           "terms": [{"of": "mvaNoIso", "link": "atanh"}, {"of": "iso", "max": 2.0}]})
        >>> rng = np.random.default_rng(0)
        >>> noiso, iso = np.tanh(rng.normal(0, 4, 5000)), rng.exponential(0.5, 5000)
        >>> mva = np.tanh(np.arctanh(noiso) - 7.2 * np.minimum(iso, 2)).astype(np.float32)  # -1 for 14 %
        >>> y = t.fit(mva, (noiso, iso), rng).forward(mva, (noiso, iso), rng)
        >>> [round(c, 3) + 0.0 for c in t.coef]
        [1.0, -7.2, 0.0]
        >>> back = t.inverse(y, (noiso, iso)).astype(np.float32)
        >>> bool(np.all(back == mva)), round(float(np.mean(back == -1)), 2)
        (True, 0.14)
    """

    kind: ClassVar[str] = "relation"
    dims: ClassVar[int] = 1
    discrete: ClassVar[bool] = False
    needs_gen: ClassVar[bool] = False

    terms: list[dict] = field(default_factory=list)
    link: str = "identity"
    then: Any = None
    coef: list[float] | None = None

    def __post_init__(self):
        if not self.terms:
            raise ValueError("a 'relation' transform needs the targets it reads ('terms')")
        self.terms = [dict(term) for term in self.terms]
        for term in self.terms:
            if not term.get("of"):
                raise ValueError(f"a relation's term needs the target it reads ('of'): {term}")
            term.setdefault("link", "identity")
        for name in [self.link] + [term["link"] for term in self.terms]:
            if name not in _LINKS:
                raise ValueError(f"unknown link {name!r} (known: {sorted(_LINKS)})")
        self.then = _inner(self.then, no_gen="the residual of a relation")

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(term["of"] for term in self.terms)

    def _design(self, ref) -> tuple[Array, Array]:
        """The terms (one column each, then the intercept's ones) and where each row is off its links' edges."""
        if ref is None or len(ref) != len(self.terms):
            raise ValueError(f"a relation needs the values of {list(self.refs)}")
        cols, inside = [], True
        for term, r in zip(self.terms, ref):
            v = _f64(r)
            if term.get("max") is not None:
                v = np.minimum(v, float(term["max"]))
            if term["link"] == "atanh":
                inside = inside & (np.abs(v) < _FIT_EDGE)
            cols.append(_LINKS[term["link"]][0](v))
        ones = np.ones(len(cols[0]))
        return np.stack(cols + [ones], axis=1), inside & np.ones(len(ones), bool)

    def _predicted(self, ref) -> Array:
        """``link(p)``: the prediction in link space, rounded to float32 in value space."""
        if self.coef is None:
            raise ValueError("a relation needs its fitted coefficients")
        forward, inverse = _LINKS[self.link]
        x, _ = self._design(ref)
        return forward(inverse(x @ np.asarray(self.coef)).astype(np.float32).astype(np.float64))

    def _residual(self, x: Array, ref) -> Array:
        return _LINKS[self.link][0](_f64(x)) - self._predicted(ref)

    def fit(self, x: Array, ref=None, rng: np.random.Generator | None = None) -> Relation:
        design, ok = self._design(ref)
        v = _f64(x)
        y = _LINKS[self.link][0](v)
        ok = ok & np.all(np.isfinite(design), axis=1) & np.isfinite(y)
        if self.link == "atanh":
            ok &= np.abs(v) < _FIT_EDGE
        coef = np.zeros(design.shape[1])
        if ok.sum() > 10 * design.shape[1]:
            coef = np.linalg.lstsq(design[ok], y[ok], rcond=None)[0]
        elif np.isfinite(y).any():  # too few rows for a fit: the residual to the mean
            coef[-1] = float(np.mean(y[np.isfinite(y)]))
        self.coef = [float(c) for c in coef]
        self.then.fit(self._residual(x, ref), None, rng)
        return self

    def forward(self, x: Array, ref=None, rng: np.random.Generator | None = None) -> Array:
        return self.then.forward(self._residual(x, ref), None, rng)

    def inverse(self, y: Array, ref=None) -> Array:
        return _LINKS[self.link][1](self._predicted(ref) + self.then.inverse(_f64(y), None))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "link": self.link, "terms": [dict(term) for term in self.terms],
                "then": self.then.to_dict(), "coef": self.coef}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Relation:
        return cls(terms=list(d["terms"]), link=d.get("link", "identity"), then=d.get("then"), coef=d.get("coef"))


@dataclass
class Standard:
    """Per-dimension standard scaling ``(y - mean) / std`` of a matrix (std 0 -> 1)."""

    kind: ClassVar[str] = "standard"

    mean: list[float] | None = None
    std: list[float] | None = None

    def fit(self, y: Array, gen=None, rng=None) -> Standard:
        y = _f64(y)
        y = y[:, None] if y.ndim == 1 else y
        mean = np.array([c[np.isfinite(c)].mean() if np.isfinite(c).any() else 0.0 for c in y.T])
        std = np.array([c[np.isfinite(c)].std() if np.isfinite(c).sum() > 1 else 1.0 for c in y.T])
        std[~(std > 0)] = 1.0
        self.mean, self.std = mean.tolist(), std.tolist()
        return self

    def forward(self, y: Array, gen=None, rng=None) -> Array:
        return (_f64(y) - np.asarray(self.mean)) / np.asarray(self.std)

    def inverse(self, z: Array, gen=None) -> Array:
        return _f64(z) * np.asarray(self.std) + np.asarray(self.mean)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Standard:
        return cls(mean=d.get("mean"), std=d.get("std"))


Transform = (Plain | Integer | Bits | OneHot | Vid | Sign | Spike | Default | Grid | Regions | Excess | Calibration
             | Standard)

#: kind -> transform class.
KINDS: dict[str, type] = {
    c.kind: c for c in (Plain, Angle, Ratio, Diff, DPhi, Log, Asinh, Quantile, Logit, Integer, Flag, Bits, OneHot, Vid,
                   Sign, Spike, Default, Grid, Regions, Circle, Excess, Calibration, Relation, Standard)
}


#: kinds learnt relative to other targets of their model (inverted after them)
_RELATIVE = (Excess, Calibration, Relation)


def from_dict(d: Mapping[str, Any]) -> Transform:
    """Transform from a spec or a ``to_dict`` output (dispatch on ``kind``)."""
    kind = d.get("kind", "plain")
    if kind not in KINDS:
        raise ValueError(f"unknown transform kind {kind!r} (known: {sorted(KINDS)})")
    return KINDS[kind].from_dict(d)


#: a spec builds an unfitted transform in the same way.
make = from_dict


def _gen_name(t) -> str | None:
    return _gen_name(t.then) if isinstance(t, (Spike, Grid)) else getattr(t, "gen", None)


def relative(t) -> Excess | Calibration | Relation | None:
    """The transform relative to other targets that ``t`` is or wraps (through ``spike``, ``default`` and ``grid``
    chains: a fat jet's ``msoftdrop``, -1 by rule without soft drop, else learnt against its ``mass``), or None.

    Example:
        >>> relative(make({"kind": "default", "value": -1.0, "then": {"kind": "excess", "over": "mass", "log": 1.0}})).refs
        ('mass',)
        >>> relative(make({"kind": "log"})) is None
        True
    """
    while isinstance(t, (Spike, Grid)):
        t = t.then
    return t if isinstance(t, _RELATIVE) else None


def _reference(t, gen: Mapping[str, Array] | None, columns: Mapping[str, Array]):
    """The second input of ``t``: the ``over`` target for an :class:`Excess`, the (pt, eta) targets for a
    :class:`Calibration`, the terms of a :class:`Relation` (also inside a ``spike``/``default``/``grid`` chain),
    else its gen column."""
    r = relative(t)
    if r is None:
        return _gen_column(gen, columns, _gen_name(t))
    missing = [k for k in r.refs if k not in columns]
    if missing:
        what = "the bound of an excess" if isinstance(r, Excess) else f"read by a {r.kind}"
        raise KeyError(f"targets {missing} ({what}) not given")
    return _read(r, columns)


def _read(r: Excess | Calibration | Relation, values: Mapping[str, Array]):
    """The targets the relative transform ``r`` reads, from ``values``: an excess's bound input
    (:meth:`Excess.read`), else the tuple of its ``refs``."""
    return r.read(values) if isinstance(r, Excess) else tuple(values[k] for k in r.refs)


def _gen_column(gen: Mapping[str, Array] | None, columns: Mapping[str, Array], name: str | None):
    if name is None:
        return None
    for key in (name, f"gen_{name}"):
        if gen is not None and key in gen:
            return gen[key]
    if f"gen_{name}" in columns:
        return columns[f"gen_{name}"]
    raise KeyError(f"gen column {name!r} (or 'gen_{name}') not given")


def _inverse_order(columns: Sequence[tuple[str, Any]]) -> list[int]:
    """The order in which a pipeline inverts its ``columns`` (``(name, relative transform or None)``): every target
    after the targets its bound reads, which may themselves be relative (an electron's HEEP track sum over its track
    sum, itself over the charged isolation times pT); a cycle is an error.

    Example:
        >>> heep, tk = make({"kind": "excess", "over": "tk", "signed": True}), make({"kind": "excess", "over": "chg"})
        >>> _inverse_order([("heep", heep), ("tk", tk), ("chg", None)])
        [2, 1, 0]
    """
    index = {name: j for j, (name, _) in enumerate(columns)}
    depth: dict[int, int] = {}

    def of(j: int, path: tuple[int, ...]) -> int:
        if j in path:
            raise ValueError(f"targets relative to each other in a cycle: {[columns[i][0] for i in (*path, j)]}")
        if j not in depth:
            r = columns[j][1]
            depth[j] = 0 if r is None else 1 + max((of(index[k], (*path, j)) for k in r.refs if k in index), default=0)
        return depth[j]

    return sorted(range(len(columns)), key=lambda j: of(j, ()))


@dataclass
class Pipeline:
    """Ordered columns with their transforms, then standard scaling of every dimension.

    ``forward`` maps a dict of numpy columns to a float32 matrix, ``inverse`` maps a
    matrix back to a dict of columns (float64 for continuous kinds, int64 for discrete).
    Gen values named by ``"gen"`` specs are looked up in ``gen`` as ``name`` or
    ``gen_<name>``, else as ``gen_<name>`` among the columns.

    Example:
        >>> pipe = Pipeline.from_specs({"eta": {"kind": "diff", "gen": "eta"}, "puId": {"kind": "bits", "bits": [4, 2, 1]}})
        >>> pipe.names, pipe.dims  # puId: one dimension per bit
        (['eta', 'puId:4', 'puId:2', 'puId:1'], 4)
    """

    columns: list[tuple[str, Any]]
    scale: Standard = field(default_factory=Standard)
    #: dequantisation half-width of the discrete kinds (:data:`HALF_WIDTH`; below 0.5: rounding inverts it)
    half_width: float = HALF_WIDTH

    def __post_init__(self) -> None:
        if not 0.0 < self.half_width < 0.5:
            raise ValueError(f"dequantisation half-width must be in (0, 0.5), got {self.half_width}")
        kinds = {name: relative(t) or t for name, t in self.columns}
        for name, t in kinds.items():
            for r in t.refs if isinstance(t, Excess) else ():
                if r not in kinds or isinstance(kinds[r], Relation):
                    role = "over" if r == t.over else "per" if r == t.per else "times"
                    raise ValueError(f"{name!r} is an excess {role} {r!r}, which must "
                                     "be a target of the same model and not a relation")
            for r in t.refs if isinstance(t, Calibration) else ():
                if r not in kinds or isinstance(kinds[r], _RELATIVE):
                    raise ValueError(f"{name!r} is a calibration read at {r!r}, which must be a target of the "
                                     "same model and not itself learnt relative to another target")
            for r in t.refs if isinstance(t, Relation) else ():
                if r not in kinds or isinstance(kinds[r], Relation):
                    raise ValueError(f"{name!r} is a relation reading {r!r}, which must be a target of the same "
                                     "model and not a relation itself")
        self._order = _inverse_order([(name, relative(t)) for name, t in self.columns])

    @classmethod
    def from_specs(cls, specs: Mapping[str, Mapping] | Sequence[tuple[str, Mapping]],
                   half_width: float = HALF_WIDTH) -> Pipeline:
        """Unfitted pipeline from ``{column: spec}`` or ``[(column, spec), ...]``."""
        items = specs.items() if isinstance(specs, Mapping) else specs
        return cls([(name, make(spec)) for name, spec in items], half_width=half_width)

    @property
    def dims(self) -> int:
        return sum(t.dims for _, t in self.columns)

    @property
    def names(self) -> list[str]:
        """One name per output dimension (``puId:4`` for bit 4 of ``puId``, ``decayMode:10`` for its value 10)."""
        out = []
        for name, t in self.columns:
            parts = t.bits if isinstance(t, Bits) else t.values if isinstance(t, OneHot) else None
            parts = [f"cut{i}" for i in range(t.cuts)] if isinstance(t, Vid) else parts
            parts = ["region", "position"] if isinstance(t, Regions) else ["x", "y"] if isinstance(t, Circle) else parts
            out += [name] if parts is None else [f"{name}:{b}" for b in parts]
        return out

    def _raw(self, columns, gen, rng) -> Array:
        parts = []
        before, _ACTIVE_HALF_WIDTH[0] = _ACTIVE_HALF_WIDTH[0], self.half_width
        try:
            for name, t in self.columns:
                y = t.forward(columns[name], _reference(t, gen, columns), rng)
                parts.append(np.asarray(y, np.float64).reshape(len(y), -1))
        finally:
            _ACTIVE_HALF_WIDTH[0] = before
        return np.concatenate(parts, axis=1)

    def fit(self, columns: Mapping[str, Array], gen: Mapping[str, Array] | None = None,
            rng: np.random.Generator | None = None) -> Pipeline:
        """Fit every transform, then the scaling on the (dequantised) forward output."""
        for name, t in self.columns:
            t.fit(columns[name], _reference(t, gen, columns), rng)
        self.scale.fit(self._raw(columns, gen, rng))
        return self

    def forward(self, columns: Mapping[str, Array], gen: Mapping[str, Array] | None = None,
                rng: np.random.Generator | None = None) -> Array:
        """Columns -> float32 matrix ``(n, dims)``."""
        return self.scale.forward(self._raw(columns, gen, rng)).astype(np.float32)

    def inverse(self, y: Array, gen: Mapping[str, Array] | None = None, regions: Mapping[str, Array] | None = None,
                points: Mapping[str, Array] | None = None) -> dict[str, Array]:
        """Matrix ``(n, dims)`` -> ``{column: values}``; a target with drawn ``regions`` (``{target: region per row}``,
        a ``regions`` transform) moved into them, one with drawn ``points`` (:func:`point_of`) placed on them
        (:func:`place_point`), each before the targets relative to it read it (:mod:`flashsim_coffea.sim.categories`)."""
        regions, points = regions or {}, points or {}
        raw = self.scale.inverse(np.asarray(y).reshape(len(y), self.dims))
        starts = np.cumsum([0] + [t.dims for _, t in self.columns])
        out = {}
        # a transform relative to other targets after them, whatever their order in the spec (:func:`_inverse_order`)
        rel = [relative(t) for _, t in self.columns]
        for j in self._order:
            name, t = self.columns[j]
            part = raw[:, starts[j] : starts[j + 1]]
            r = rel[j]
            ref = _read(r, out) if r is not None else _gen_column(gen, {}, _gen_name(t))
            x = t.inverse(part[:, 0] if t.dims == 1 else part, ref)
            if name in regions:
                x = t.move(x, regions[name])
            out[name] = place_point(t, x, points[name], ref) if name in points else x
        return {name: out[name] for name, _ in self.columns}

    def to_dict(self) -> dict[str, Any]:
        out = {"columns": [[name, t.to_dict()] for name, t in self.columns], "scale": self.scale.to_dict()}
        if self.half_width != HALF_WIDTH:
            out["half_width"] = self.half_width
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Pipeline:
        return cls([(name, from_dict(t)) for name, t in d["columns"]], Standard.from_dict(d.get("scale", {})),
                   half_width=float(d.get("half_width", HALF_WIDTH)))
