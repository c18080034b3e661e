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
by up to half (the thin 2.5-2.7 bands). :func:`with_regions` adds each row's region as a column for
:func:`encode`; after the flow, :func:`place_regions` moves the target into the drawn region at the
relative position the flow gave it (the flow, given the drawn class, put nearly all there already).

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
from flashsim_coffea.sim.transforms import Pipeline, make, place_point, point_of
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


def with_regions(columns: dict[str, np.ndarray], fields: list[str], targets: dict[str, dict]) -> dict[str, np.ndarray]:
    """``columns`` and, for each ``"<target>:region"`` among ``fields``, the region of that target's values
    (``targets``: the source's target specs, the target a ``regions`` one).

    Example:
        >>> cols = with_regions({"eta": np.array([-3.2, 0.4, 2.55])}, ["eta:region"],
        ...                     {"eta": {"kind": "regions", "edges": [-2.5, 2.5, 2.6]}})
        >>> cols["eta:region"].tolist()
        [0, 1, 2]
    """
    out = dict(columns)
    for f in fields:
        if f.endswith(REGION):
            out[f] = make(targets[f[:-len(REGION)]]).region(columns[f[:-len(REGION)]])
    return out


def place_regions(pipeline: Pipeline, out: dict[str, np.ndarray], drawn: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Move each target whose region was drawn (``drawn["<target>:region"]``) into that region of ``pipeline``'s
    fitted transform (in place in ``out``); returns ``drawn`` without the region entries."""
    kinds = dict(pipeline.columns)
    for f in [f for f in drawn if f.endswith(REGION)]:
        name = f[:-len(REGION)]
        out[name] = kinds[name].move(out[name], drawn.pop(f))
    return drawn


def with_points(columns: dict[str, np.ndarray], fields: list[str], pipeline: Pipeline) -> dict[str, np.ndarray]:
    """``columns`` and, for each ``"<target>:point"`` among ``fields``, the point mass of that target's ``spike``
    chain each value sits on (``pipeline``: the source's fitted transforms; 0 none, k the k-th point).

    Example:
        >>> pipe = Pipeline.from_specs({"chHEF": {"kind": "spike", "value": 0.0, "then": {"kind": "logit"}}})
        >>> x = np.r_[np.zeros(5), np.linspace(0.1, 0.9, 5)]
        >>> _ = pipe.fit({"chHEF": x}, rng=np.random.default_rng(0))
        >>> with_points({"chHEF": x}, ["chHEF:point"], pipe)["chHEF:point"].tolist()
        [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    """
    out = dict(columns)
    kinds = dict(pipeline.columns)
    for f in fields:
        if f.endswith(POINT):
            out[f] = point_of(kinds[f[:-len(POINT)]], columns[f[:-len(POINT)]])
    return out


def place_points(pipeline: Pipeline, out: dict[str, np.ndarray], drawn: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Put each target whose point mass was drawn (``drawn["<target>:point"]``) on it, or off every point where none
    was (:func:`~flashsim_coffea.sim.transforms.place_point`; in place in ``out``); returns ``drawn`` without the
    point entries."""
    kinds = dict(pipeline.columns)
    for f in [f for f in drawn if f.endswith(POINT)]:
        name = f[:-len(POINT)]
        out[name] = place_point(kinds[name], out[name], drawn.pop(f))
    return drawn
