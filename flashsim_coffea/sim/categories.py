"""Categorical targets drawn by a classifier before the flow: P(combination | conditioning), then the flow given it.

A flow learns a category as one-hot dimensions (:class:`~flashsim_coffea.sim.transforms.OneHot`) and
decodes it by the largest; the share of each category then depends on how well the flow placed the
decision boundaries, which moves between trainings: the pileup jets' gluon share moved by 3 % and
their c share by 25 % between two training seeds of one spec (docs/performance.md, "The pileup
jets' b flavour"). A source with :attr:`~flashsim_coffea.specs.source.Source.categories` draws those
fields instead from a softmax classifier (:class:`~flashsim_coffea.sim.count.CountModel`, cross
entropy) over the combinations of their values seen in training, given the source's conditioning,
and its flow samples the other targets given the conditioning and the combination (:func:`onehot`):
p(targets, categories | conditioning) = p(categories | conditioning) p(targets | categories,
conditioning). The class shares come from a calibrated classifier of the conditioning alone, and the
targets that follow a category (a b jet's b-tag scores) follow the drawn one. One uniform per object
picks the combination by inverse CDF (:func:`flashsim_coffea.sim.count.sample_counts`).

A category may also be the region of a ``regions`` target (``"eta:region"``, :data:`REGION`): the pileup
jets' calorimeter region of η, whose shares a flow learning the region as a dequantised integer got wrong
by up to half (the thin 2.5-2.7 bands). :func:`labels` adds each row's region as a column for
:func:`encode`; after the flow, the pipeline's inverse moves the target into the drawn region at the
relative position the flow gave it (the flow, given the drawn class, put nearly all there already;
:func:`split`). A point mass of a ``spike`` target (``"<target>:point"``, :data:`POINT`) likewise: drawn
points are exact, rows drawn off every point leave one the flow decoded.

Model sets before the twentieth drew the combination after the flow, given the conditioning and the flow's
sample: the flow's sample then decided the flavour, and what it blurred of a rare flavour's b-tag scores was lost
to that flavour (the split jets of ``zh_llbb``: 421 b-flavoured in FullSim, 390 from the classifier given their
real targets, 341 given the flow's; docs/performance.md). The engine refuses such cards (retrain the source).

Example:
    Two fields, three combinations seen, the classifier's probabilities flat:

    >>> cols = {"hadronFlavour": np.array([0, 5, 0, 4]), "partonFlavour": np.array([21, 5, 0, 4])}
    >>> classes, index = encode(cols, ["hadronFlavour", "partonFlavour"])
    >>> classes.tolist(), index.tolist()
    ([[0, 0], [0, 21], [4, 4], [5, 5]], [1, 3, 0, 2])
    >>> decode(classes, np.array([3, 1]), ["hadronFlavour", "partonFlavour"])
    {'hadronFlavour': array([5, 0]), 'partonFlavour': array([ 5, 21])}
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from flashsim_coffea.sim.count import CountModel, sample_counts
from flashsim_coffea.sim.transforms import Excess, Pipeline, point_of
from flashsim_coffea.specs.source import POINT, REGION


def encode(columns: dict[str, np.ndarray], fields: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The combinations of ``fields``' values in ``columns`` (sorted, int64 ``(n_classes, len(fields))``) and
    each row's class index."""
    values = np.stack([np.asarray(columns[f]).astype(np.int64) for f in fields], axis=1)
    classes, index = np.unique(values, axis=0, return_inverse=True)
    return classes, index.reshape(-1).astype(np.int64)


def decode(classes: np.ndarray, index: np.ndarray, fields: list[str]) -> dict[str, np.ndarray]:
    """The fields' values of class ``index`` (one per row)."""
    picked = np.asarray(classes, np.int64)[np.asarray(index, np.int64)]
    return {f: picked[:, i] for i, f in enumerate(fields)}


def pick(model: CountModel, x: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """One class index per row of the classifier's inputs ``x``, by inverse CDF at Φ(``normal``) (a
    standard-normal draw per row: the engine's counter-based noise, :mod:`flashsim_coffea.sim.random`);
    at most ``model.n_max`` = ``len(classes) - 1`` (checked at load)."""
    if not len(x):
        return np.zeros(0, np.int64)
    return sample_counts(model, x, ndtr(np.asarray(normal, np.float64)))


def onehot(index: np.ndarray, n: int) -> np.ndarray:
    """float32 ``(len(index), n)``: row i is 1 at column ``index[i]`` (the flow's conditioning on a class).

    Example:
        >>> onehot(np.array([2, 0]), 3).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    out = np.zeros((len(index), n), np.float32)
    out[np.arange(len(index)), np.asarray(index, np.int64)] = 1.0
    return out


def with_class(context: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """The flow's conditioning of a source drawn categories first: ``context`` (2-D) and the one-hot of each row's
    class ``index`` among ``n`` side by side.

    Example:
        >>> with_class(np.array([[0.5], [1.5]]), np.array([1, 0]), 2).tolist()
        [[0.5, 0.0, 1.0], [1.5, 1.0, 0.0]]
    """
    return np.concatenate([context, onehot(index, n)], axis=1)


def labels(columns: dict[str, np.ndarray], fields: list[str], pipeline: Pipeline) -> dict[str, np.ndarray]:
    """``columns`` and, for each ``"<target>:region"`` / ``"<target>:point"`` among ``fields``, that target's region
    (a ``regions`` transform) / the point mass of its ``spike`` chain each value sits on (0 none, k the k-th point;
    :func:`~flashsim_coffea.sim.transforms.point_of`), from ``pipeline`` (the source's fitted transforms).

    Example:
        >>> pipe = Pipeline.from_specs({"chHEF": {"kind": "spike", "value": 0.0, "then": {"kind": "logit"}},
        ...                             "eta": {"kind": "regions", "edges": [-2.5, 2.5, 2.6]}})
        >>> x, eta = np.r_[np.zeros(3), np.linspace(0.1, 0.9, 3)], np.array([-3.2, 0.4, 2.55, 0.0, 0.1, 0.2])
        >>> _ = pipe.fit({"chHEF": x, "eta": eta}, rng=np.random.default_rng(0))
        >>> cols = labels({"chHEF": x, "eta": eta}, ["chHEF:point", "eta:region"], pipe)
        >>> cols["chHEF:point"].tolist(), cols["eta:region"].tolist()
        ([1, 1, 1, 0, 0, 0], [0, 1, 2, 1, 1, 1])
    """
    out = dict(columns)
    kinds = dict(pipeline.columns)
    for f in fields:
        if f.endswith(REGION):
            out[f] = kinds[f[:-len(REGION)]].region(columns[f[:-len(REGION)]])
        elif f.endswith(POINT):
            t = kinds[f[:-len(POINT)]]
            out[f] = point_of(t, columns[f[:-len(POINT)]], t.read(columns) if isinstance(t, Excess) else None)
    return out


def split(drawn: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The drawn combination's regions and point masses by target (for
    :meth:`~flashsim_coffea.sim.transforms.Pipeline.inverse`, which moves and places the flow's values there) and
    the other fields.

    Example:
        >>> split({"eta:region": 1, "chHEF:point": 2, "hadronFlavour": 5})
        ({'eta': 1}, {'chHEF': 2}, {'hadronFlavour': 5})
    """
    regions = {f[:-len(REGION)]: v for f, v in drawn.items() if f.endswith(REGION)}
    points = {f[:-len(POINT)]: v for f, v in drawn.items() if f.endswith(POINT)}
    return regions, points, {f: v for f, v in drawn.items() if not f.endswith((REGION, POINT))}
