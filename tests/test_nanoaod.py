"""The NanoAOD v12 schema table against a real CMS NanoAOD v12 file."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.nanoaod.schema import COUNTER_DTYPE, SCHEMA, cast


def _v12_dtypes(path) -> dict[str, str]:
    tree = uproot.open(path)["Events"]
    arrays = tree.arrays(entry_stop=5)
    out = {}
    for name in arrays.fields:
        t = arrays[name].type.content
        while hasattr(t, "content"):
            t = t.content
        out[name] = str(t)
    return out


def test_schema_matches_v12_file(v12_file):
    real = _v12_dtypes(v12_file)
    compared = 0
    for collection, fields in SCHEMA.items():
        for field, dtype in fields.items():
            name = field if collection == "" else f"{collection}_{field}"
            if name in real:
                assert real[name] == dtype, f"{name}: schema {dtype}, v12 file {real[name]}"
                compared += 1
        if collection and f"n{collection}" in real:
            assert real[f"n{collection}"] == COUNTER_DTYPE
    # the v12 file lacks Photon, Tau, GenVisTau, GenDressedLepton, GenIsolatedPhoton and Jet_puId
    assert compared >= 120


def test_cast_sets_dtypes_and_refuses_unknown_fields():
    mu = ak.Array([[{"pt": 30.0, "genPartIdx": 3, "tightId": 1}], []])
    out = cast("Muon", mu)
    assert str(out.pt.type.content.content) == "float32"
    assert str(out.genPartIdx.type.content.content) == "int16"
    assert out.tightId.tolist() == [[True], []]
    with pytest.raises(KeyError, match="Muon_bogus|bogus"):
        cast("Muon", ak.Array([[{"pt": 1.0, "bogus": 2}]]))
    ev = cast("", ak.Array([{"MET_pt": 1.5, "PV_npvs": 30}]))
    assert ev.PV_npvs.type.content == ak.types.NumpyType("uint8")
    assert np.asarray(ev.MET_pt).dtype == np.float32


def test_real_nanoaod_ip3d_and_isolation_relations(v12_file):
    """What flash derives or enforces holds in real CMS NanoAOD: ``ip3d`` is the straight-line 3D impact
    parameter of ``dxy``, ``dz`` and ``eta`` (flash derives it), and ``*_all`` never falls below the charged
    part and equals it exactly where the neutral part is clipped (flash learns the excess)."""
    from flashsim_coffea.nanoaod import derived

    with uproot.open(v12_file) as f:
        ev = f["Events"].arrays(filter_name=["/(Muon|Electron)_(dxy|dz|eta|ip3d|.*RelIso.*_(all|chg))$/"])
    for coll in ("Muon", "Electron"):
        c = {k: ak.to_numpy(ak.flatten(ev[f"{coll}_{k}"])).astype(np.float64)
             for k in ("dxy", "dz", "eta", "ip3d", "pfRelIso03_all", "pfRelIso03_chg", "miniPFRelIso_all",
                       "miniPFRelIso_chg")}
        ratio = c["ip3d"] / derived.ip3d(c["dxy"], c["dz"], c["eta"])
        assert len(ratio) > 200 and np.quantile(np.abs(ratio - 1), 0.98) < 2e-3, coll
        for iso in ("pfRelIso03", "miniPFRelIso"):
            a, chg = c[f"{iso}_all"], c[f"{iso}_chg"]
            assert np.all(a >= chg), (coll, iso)
            assert 0.1 < np.mean((a == chg) & (chg > 0)) < 0.3, (coll, iso)
