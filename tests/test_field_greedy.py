"""benchmarks/field_greedy.py: forward selection of the fields a gradient-boosted classifier needs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
spec = importlib.util.spec_from_file_location(
    "field_greedy", Path(__file__).resolve().parents[1] / "benchmarks" / "field_greedy.py"
)
field_greedy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(field_greedy)


def test_a_broken_relation_is_found_where_no_single_field_shows_it():
    """FullSim: iso_all = iso_chg + a non-negative part; flash: the same marginals, drawn apart. The path
    starts with a field of the pair and reaches the pair; the unrelated field adds nothing."""
    rng = np.random.default_rng(5)
    n = 6000

    def sample(related: bool) -> dict:
        chg = rng.exponential(1.0, n)
        extra = rng.exponential(0.5, n)
        total = chg + extra if related else rng.permutation(rng.exponential(1.0, n) + rng.exponential(0.5, n))
        return {"pt": rng.normal(size=n), "chg": chg, "all": total}

    path = field_greedy.greedy(sample(False), sample(True), steps=3)
    assert [f for f, _ in path][:2] in (["chg", "all"], ["all", "chg"])
    assert path[0][1] < 0.56 and path[1][1] > 0.75  # alone: alike; together: told apart
    assert path[2][0] == "pt" and path[2][1] < path[1][1] + 0.03


def test_help_and_unknown_collection(capsys, tt_sample):
    with pytest.raises(SystemExit) as e:
        field_greedy.main(["--help"])
    assert e.value.code == 0 and "--fields" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no source of collection 'Nope'"):
        field_greedy.main(["--collection", "Nope", "--data", str(tt_sample)])


def test_event_level_fields_are_compared_per_event(capsys, tt_sample):
    """``--collection Event``: one row per event on both sides, the event-level reco fields (MET flavours, PV,
    Rho), not the trigger bits."""
    import uproot

    n = uproot.open(tt_sample)["Events"].num_entries
    field_greedy.main(["--collection", "Event", "--data", str(tt_sample), "--steps", "1"])
    out = capsys.readouterr().out
    head = out.splitlines()[0]
    assert head.startswith(f"Event: {n} FullSim and {n} flash objects")
    assert int(head.split(", ")[1].split()[0]) >= 40 and "1. + " in out
    assert "HLT_" not in out and "Flag_" not in out


def test_drop_one_names_the_pair_and_exclude_leaves_a_field_out(capsys, tt_sample):
    """Every field but one: leaving out either field of the broken pair drops the AUC, the unrelated one does
    not; ``--exclude`` takes a field out of every classifier of the command."""
    rng = np.random.default_rng(6)
    n = 6000

    def sample(related: bool) -> dict:
        chg = rng.exponential(1.0, n)
        total = chg + rng.exponential(0.5, n) if related else rng.permutation(
            rng.exponential(1.0, n) + rng.exponential(0.5, n))
        return {"pt": rng.normal(size=n), "chg": chg, "all": total}

    every, without = field_greedy.drop_one(sample(False), sample(True))
    assert every > 0.75 and {f for f, _ in without[:2]} == {"chg", "all"}
    assert without[0][1] < 0.6 and without[-1][0] == "pt" and without[-1][1] > every - 0.03
    field_greedy.main(["--collection", "Event", "--data", str(tt_sample), "--drop-one", "--steps", "2",
                       "--exclude", "MET_pt", "PV_ndof"])
    out = capsys.readouterr().out
    assert "every field" in out and out.count(" - ") == 2 and "MET_pt " not in out and "PV_ndof" not in out
