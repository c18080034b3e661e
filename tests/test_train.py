"""sources.train_source: a source declared ``full_schedule`` runs its flow's whole schedule."""

import dataclasses
import json

from flashsim_coffea.specs import muon
from flashsim_coffea.train import sources, store


def test_full_schedule_turns_early_stopping_off(tt_sample, tmp_path, monkeypatch):
    seen = []
    original = sources.train_flow

    def spy(*args, **kwargs):
        seen.append((kwargs["epochs"], kwargs["patience"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(sources, "train_flow", spy)
    src = muon.GENUINE
    store.extract([tt_sample], tmp_path / "tables", keys=[src.key], progress=False)
    tables = store.source_tables(tmp_path / "tables", src.key)
    for full in (False, True):
        out = tmp_path / str(full)
        sources.train_source(dataclasses.replace(src, full_schedule=full), tables, out, seed=1, epochs=12,
                             progress=False, min_objects=5, min_steps=0, min_efficiency_steps=0)
        history = json.loads((out / src.key / "flow.json").read_text())["history"]
        epochs, patience = seen[-1]
        if full:
            assert patience == epochs and history["epochs"] == epochs  # never stops before the end
        else:
            assert patience == max(8, epochs // 8)
