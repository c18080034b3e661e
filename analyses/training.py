"""Training an analysis' DNN from a fileset: preselected FullSim events of signal vs backgrounds.

:func:`train_dnn` reads the events (by default fresh reference samples, disjoint from the
evaluation samples), takes :meth:`analyses.analysis.Analysis.training_arrays` of each file,
trains with :func:`analyses.dnn.train` and stores the model card at ``analysis.dnn_path``.

Command line (the workflow's training rule):
``python analyses/training.py --analysis zh_llbb --fileset train.json --heldout eval.json --out dnn/zh_llbb_dnn``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from coffea.nanoevents import NanoEventsFactory

if __package__ in (None, ""):  # run as a script: make ``analyses`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyses import dnn
from analyses.analysis import Analysis
from analyses.running import complete_metadata, reference_fileset
from analyses.selection import DNN_INPUTS
from processors.schema import NanoAODSchema

#: offset of the DNN training samples' seed, so the DNN never sees the evaluation samples.
TRAIN_SEED_OFFSET = 1000


def preselected(analysis: Analysis, fileset: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """DNN features, labels (1: the analysis' signal process), weights and counts per dataset of the
    preselected FullSim events of a fileset with complete metadata."""
    xs, ys, ws, used = [], [], [], {}
    for ds, spec in fileset.items():
        for path in spec["files"]:
            ev = NanoEventsFactory.from_root({path: "Events"}, mode="virtual", schemaclass=NanoAODSchema,
                                             metadata={"dataset": ds, **spec["metadata"]}).events()
            x, w = analysis.training_arrays(ev)
            label = 1.0 if spec["metadata"].get("process", ds) == analysis.signal else 0.0
            xs.append(x), ws.append(w), ys.append(np.full(len(x), label, np.float32))
            used[ds] = used.get(ds, 0) + len(x)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws), used


def roc_auc(score: np.ndarray, y: np.ndarray, w: np.ndarray) -> float | None:
    """ROC AUC of ``score`` for labels ``y`` with weights ``|w|`` (None without both classes).

    Example:
        >>> roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]), np.ones(4))
        0.75
    """
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, score, sample_weight=np.abs(w)))


def train_dnn(analysis: Analysis, events: int = 5000, seed: int = 1, fileset: dict | None = None,
              epochs: int = 60, heldout: dict | None = None) -> Path:
    """Train the analysis DNN on FullSim events of signal vs backgrounds and store it at ``analysis.dnn_path``.

    Default samples: reference samples with seeds ``seed + TRAIN_SEED_OFFSET + i`` (disjoint from
    the evaluation samples of the same ``--seed``). Events are the preselected ones, weighted by
    cross-section; the classes are balanced. With ``heldout`` (a fileset of other FullSim samples,
    e.g. the evaluation ones) the card records the cross-section-weighted ROC AUC on them.
    """
    fileset = complete_metadata(fileset or reference_fileset(analysis.signal, events, seed + TRAIN_SEED_OFFSET))
    x, y, w, used = preselected(analysis, fileset)
    print(f"[dnn] training events after preselection: {used}", flush=True)
    start = time.perf_counter()
    model = dnn.train(x, y, w, DNN_INPUTS, seed=seed, epochs=epochs,
                      info={"analysis": analysis.name, "signal": analysis.signal, "samples": used,
                            "sample_events": events, "source": "flashsim-coffea reference detector (FullSim)"})
    model.card["training"]["roc_auc_train"] = roc_auc(model(x), y, w)
    if heldout is not None:
        hx, hy, hw, hused = preselected(analysis, complete_metadata(heldout))
        model.card["validation"] = {"roc_auc_heldout": roc_auc(model(hx), hy, hw), "samples": hused,
                                    "weights": "|cross-section weight|, preselected FullSim events"}
        print(f"[dnn] held-out ROC AUC {model.card['validation']['roc_auc_heldout']} on {hused}", flush=True)
    stem = Path(analysis.dnn_path)
    dnn.save(model, stem)
    dnn.cached.cache_clear()
    print(f"[dnn] trained in {time.perf_counter() - start:.1f} s -> {stem}.safetensors/.json", flush=True)
    return stem


def main(argv: list[str] | None = None) -> Path:
    """``--analysis NAME --fileset TRAIN.json --out STEM [--epochs E --seed S]``: train and store the DNN."""
    from analyses.running import FilesetError, check_fileset, load_fileset
    from analyses.vbf_hmumu import VBFHmumu
    from analyses.zh_llbb import ZHllbb
    from flashsim_coffea.cli import Parser, positive_int

    p = Parser(description="train an analysis DNN on FullSim samples (disjoint from the evaluation ones)")
    p.add_argument("--analysis", required=True, choices=["vbf_hmumu", "zh_llbb"])
    p.add_argument("--fileset", required=True, help="JSON fileset of the training samples")
    p.add_argument("--out", required=True, help="the model's stem: writes STEM.json and STEM.safetensors")
    p.add_argument("--epochs", type=positive_int, default=60)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--heldout", default=None, help="JSON fileset of held-out FullSim samples: ROC AUC in the card")
    args = p.parse_args(argv)
    try:
        fileset = check_fileset(load_fileset(args.fileset), fullsim=True, flash=False)
        heldout = check_fileset(load_fileset(args.heldout), fullsim=True, flash=False) if args.heldout else None
    except FilesetError as err:
        p.error(f"argument --fileset/--heldout: {err}")
    make = {"vbf_hmumu": VBFHmumu, "zh_llbb": ZHllbb}[args.analysis]
    return train_dnn(make(dnn_path=args.out), seed=args.seed, fileset=fileset, epochs=args.epochs, heldout=heldout)


if __name__ == "__main__":
    main()
