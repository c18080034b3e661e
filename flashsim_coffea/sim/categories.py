"""Categorical targets drawn by a classifier after the flow: P(combination | conditioning, flow sample).

A flow learns a category as one-hot dimensions (:class:`~flashsim_coffea.sim.transforms.OneHot`) and
decodes it by the largest; the share of each category then depends on how well the flow placed the
decision boundaries, which moves between trainings: the pileup jets' gluon share moved by 3 % and
their c share by 25 % between two training seeds of one spec (docs/performance.md, "The pileup
jets' b flavour"). A source with :attr:`~flashsim_coffea.specs.source.Source.categories` draws those
fields instead from a softmax classifier (:class:`~flashsim_coffea.sim.count.CountModel`, cross
entropy) over the combinations of their values seen in training, given the source's conditioning and
the flow's sample of its other targets (in the flow's preprocessed space): p(targets, categories |
conditioning) = p(targets | conditioning) p(categories | targets, conditioning), the second factor a
calibrated classifier, whose class shares come out right wherever its inputs do. One uniform per
object picks the combination by inverse CDF (:func:`flashsim_coffea.sim.count.sample_counts`).

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


def inputs(context: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The classifier's input rows: the conditioning and the flow's sample (preprocessed space) side by side."""
    return np.concatenate([np.asarray(context, np.float32).reshape(len(context), -1),
                           np.asarray(y, np.float32).reshape(len(y), -1)], axis=1)


def draw(model: CountModel, classes: np.ndarray, fields: list[str], context: np.ndarray, y: np.ndarray,
         normal: np.ndarray) -> dict[str, np.ndarray]:
    """One combination per row by inverse CDF at Φ(``normal``) (a standard-normal draw per row: the engine's
    counter-based noise, :mod:`flashsim_coffea.sim.random`)."""
    if not len(context):
        return {f: np.zeros(0, np.int64) for f in fields}
    index = sample_counts(model, inputs(context, y), ndtr(np.asarray(normal, np.float64)))
    return decode(classes, index, fields)  # index <= model.n_max = len(classes) - 1 (checked at load)
