"""Reflow: a source's flow retrained on its own (noise, sample) pairs, so that fewer ODE steps reproduce it.

Flow matching on independent (noise, target) pairs learns curved paths (the straight
interpolations cross, and the velocity field averages over them): a fixed-step solver needs
several steps to follow them (the shipped genuine-jet flow: 8 midpoint steps). Reflow draws
noise ``z`` for conditioning rows of the training data, integrates the trained flow (the
teacher) accurately from it to its sample ``x``, and trains a flow (the student, started from the
teacher's weights) by flow matching on the coupled pairs ``(z, x)``. Coupled straight paths
hardly cross, so the student's paths are nearly straight and a few steps land where the teacher
lands after many. The student learns the teacher's map, not the data: its fidelity is the
teacher's at best; it costs no reco data, only the teacher's integration.
:func:`reflow_models` (``flashsim reflow``) makes a models folder with some sources reflowed and
integrated with fewer steps.

Example:
    >>> import numpy as np
    >>> from flashsim_coffea.train.flow import train_flow
    >>> x = np.random.default_rng(1).normal(size=(400, 2)) * [1.0, 0.2]
    >>> teacher, _ = train_flow(x, None, {"hidden": [16]}, seed=1, epochs=3, progress=False)
    >>> student, history = reflow(teacher, np.zeros((400, 0), np.float32), seed=2, steps=8, min_steps=20,
    ...                           progress=False)
    >>> student.config == teacher.config, history["teacher_steps"], history["rows"]
    (True, 8, 400)

References:
    Liu, Gong, Liu, Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified
    Flow (arXiv:2209.03003); Lee, Lin, Fanti, Improving the Training of Rectified Flows
    (arXiv:2405.20320).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import torch

from flashsim_coffea.sim import cards, categories
from flashsim_coffea.sim.engine import load_source
from flashsim_coffea.sim.flow import sample
from flashsim_coffea.sim.nets import VelocityNet
from flashsim_coffea.specs import all_sources
from flashsim_coffea.train import mirror, store
from flashsim_coffea.train.flow import train_flow
from flashsim_coffea.train.sources import _budget, _history, _pair_conditioning, _subset

#: teacher integration: midpoint steps (the shipped flows agree with themselves at 32 within the
#: two-sample test's reach, docs/performance.md)
TEACHER_STEPS = 32
#: (noise, sample) pairs a source's reflow trains on
REFLOW_ROWS = 400_000
#: gradient steps of a reflow, at least
REFLOW_STEPS = 20_000


def pairs(net: VelocityNet, context: np.ndarray, seed: int, steps: int = TEACHER_STEPS,
          solver: str = "midpoint") -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal noise ``z`` (from ``seed``) for every row of ``context``, and ``net``'s sample
    from it integrated with ``steps`` fixed ``solver`` steps (preprocessed space)."""
    z = torch.randn((len(context), net.dim), generator=torch.Generator().manual_seed(seed)).numpy()
    return z, sample(net, context, steps=steps, solver=solver, noise=z)


def reflow(teacher: VelocityNet, context: np.ndarray, seed: int = 1, *, steps: int = TEACHER_STEPS,
           solver: str = "midpoint", min_steps: int = REFLOW_STEPS, epochs: int = 10, lr: float = 3e-4,
           alpha: float = 0.0, progress: bool = True) -> tuple[VelocityNet, dict]:
    """The student of ``teacher``: trained on its pairs (:func:`pairs`) at the rows of raw ``context``,
    started from its weights, training times ``t`` of density ∝ t^``alpha`` (0: uniform, as the
    rectified-flow papers train). Returns ``(student, history)``; the history adds ``teacher_steps``
    and ``rows``."""
    context = np.asarray(context, np.float32).reshape(len(context), -1)
    z, x = pairs(teacher, context, seed, steps, solver)
    batch, n_epochs = _budget(len(x), 0.9, epochs, min_steps)
    student, hist = train_flow(x, context, seed=seed, epochs=n_epochs, batch_size=batch, lr=lr, alpha=alpha,
                               patience=n_epochs, noise=z, init=teacher, progress=progress)
    hist.update(teacher_steps=int(steps), rows=len(x))
    return student, hist


def reflow_source(models: str | os.PathLike, key: str, tables: str | os.PathLike, out: str | os.PathLike,
                  seed: int = 1, *, rows: int = REFLOW_ROWS, steps: int = TEACHER_STEPS,
                  min_steps: int = REFLOW_STEPS, progress: bool = True) -> dict:
    """Reflow the flow of source ``key`` of the ``models`` folder on ``rows`` pairs: the conditioning of
    reco objects (and their mirror images) of its training ``tables``, cycled through with fresh noise
    when they are fewer; write the source to
    ``out/<key>/``: its other models copied, the student's flow card recording the teacher's
    weights (sha256), steps and the rows in ``training.reflow``. The engine's step count for the
    source is the models index's to set (``benchmarks/ode_steps.py --apply``).
    """
    m = load_source(models, all_sources()[key])
    objects = store.source_tables(tables, key)["pairs"]
    pick = _subset(len(objects), np.random.default_rng(seed), rows)
    table = mirror.with_images(objects.take(pick), m.source.mirror)
    context = _pair_conditioning(table, m.source.conditioning)
    if len(context) < rows:  # fewer objects than pairs wanted: the rows again, each copy with its own noise
        context = np.resize(context, (rows, context.shape[1]))
    if m.categories_first:  # the flow's context: + the class
        index = categories.pick(m.categories, m.category_inputs(context),
                                np.random.default_rng([seed, 1]).standard_normal(len(context)))
        context = categories.with_class(context, index, len(m.classes))
    student, hist = reflow(m.flow, context, seed, steps=steps, min_steps=min_steps, progress=progress)
    src_dir, dst = Path(models) / key, Path(out) / key
    dst.mkdir(parents=True, exist_ok=True)
    for f in src_dir.iterdir():
        if f.is_file() and not f.name.startswith("flow."):
            shutil.copy2(f, dst / f.name)
    # the teacher's card less its weights and validation figures (the student's are its own)
    card = {k: v for k, v in m.cards["flow"].items() if k not in ("schema_version", "weights", "validation")}
    card["training"] = {**card.get("training", {}),
                        "reflow": {"teacher_sha256": m.cards["flow"]["weights"]["sha256"], "teacher_steps": int(steps),
                                   "solver": "midpoint", "rows": hist["rows"], "seed": int(seed),
                                   "tables": str(tables), "events": store.events(tables)}}
    card["history"] = _history(hist)
    cards.save(dst, "flow", student.state_dict(), card)
    return {"source": key, "rows": hist["rows"], "teacher_steps": int(steps), "steps": hist["steps"],
            "val_loss": hist["best_val_loss"], "seconds": round(hist["seconds"], 1)}


def reflow_models(models: str | os.PathLike, keys: list[str], tables: str | os.PathLike, out: str | os.PathLike,
                  steps: int, seed: int = 1, *, rows: int = REFLOW_ROWS, teacher_steps: int = TEACHER_STEPS,
                  min_steps: int = REFLOW_STEPS, progress: bool = True) -> list[dict]:
    """A models folder ``out``: a copy of ``models`` (made if ``out`` has no index yet) whose sources ``keys``
    are reflowed (:func:`reflow_source`) and integrated with ``steps`` ODE steps (its index's
    ``source_steps``). Resumable: a source of ``out`` already reflowed from the same teacher is kept."""
    models, out = Path(models), Path(out)
    if out.resolve() == models.resolve():
        raise ValueError(f"{out}: reflow writes a new models folder, not into its teacher's")
    index = cards.read_index(models)
    unknown = [k for k in keys if k not in index["sources"]]
    if unknown:
        raise ValueError(f"{models}: no source {unknown[0]!r} (it has {', '.join(index['sources'])})")
    if not cards.is_models_dir(out):
        shutil.copytree(models, out, dirs_exist_ok=True)
    done = []
    for key in keys:
        teacher = cards.read(cards.card_path(models, key, "flow"))["weights"]["sha256"]
        mine = cards.read(cards.card_path(out, key, "flow")).get("training", {}).get("reflow", {})
        if mine.get("teacher_sha256") != teacher:
            done.append(reflow_source(models, key, tables, out, seed, rows=rows, steps=teacher_steps,
                                      min_steps=min_steps, progress=progress))
        cards.set_source_steps(out, {key: steps})
    return done
