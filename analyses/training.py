"""Training an analysis' DNN from a fileset: preselected FullSim events of signal vs backgrounds.

:func:`train_dnn` reads the events (by default fresh reference samples, disjoint from the
evaluation samples), takes :meth:`analyses.analysis.Analysis.training_arrays` of each file,
trains with :func:`analyses.dnn.train` and stores the model card at ``analysis.dnn_path``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from coffea.nanoevents import NanoEventsFactory

from analyses import dnn
from analyses.analysis import Analysis
from analyses.running import complete_metadata, reference_fileset
from analyses.selection import DNN_INPUTS
from processors.schema import NanoAODSchema

#: offset of the DNN training samples' seed, so the DNN never sees the evaluation samples.
TRAIN_SEED_OFFSET = 1000


def train_dnn(analysis: Analysis, events: int = 5000, seed: int = 1, fileset: dict | None = None) -> Path:
    """Train the analysis DNN on FullSim events of signal vs backgrounds and store it at ``analysis.dnn_path``.

    Default samples: reference samples with seeds ``seed + TRAIN_SEED_OFFSET + i`` (disjoint from
    the evaluation samples of the same ``--seed``). Events are the preselected ones, weighted by
    cross-section; the classes are balanced.
    """
    fileset = complete_metadata(fileset or reference_fileset(analysis.signal, events, seed + TRAIN_SEED_OFFSET))
    xs, ys, ws, used = [], [], [], {}
    for ds, spec in fileset.items():
        for path in spec["files"]:
            ev = NanoEventsFactory.from_root({path: "Events"}, mode="virtual", schemaclass=NanoAODSchema,
                                             metadata={"dataset": ds, **spec["metadata"]}).events()
            x, w = analysis.training_arrays(ev)
            label = 1.0 if spec["metadata"].get("process", ds) == analysis.signal else 0.0
            xs.append(x), ws.append(w), ys.append(np.full(len(x), label, np.float32))
            used[ds] = used.get(ds, 0) + len(x)
    print(f"[dnn] training events after preselection: {used}", flush=True)
    start = time.perf_counter()
    model = dnn.train(np.concatenate(xs), np.concatenate(ys), np.concatenate(ws), DNN_INPUTS, seed=seed,
                      info={"analysis": analysis.name, "signal": analysis.signal, "samples": used,
                            "sample_events": events, "source": "flashsim-coffea reference detector (FullSim)"})
    stem = Path(analysis.dnn_path)
    dnn.save(model, stem)
    dnn.cached.cache_clear()
    print(f"[dnn] trained in {time.perf_counter() - start:.1f} s -> {stem}.safetensors/.json", flush=True)
    return stem
