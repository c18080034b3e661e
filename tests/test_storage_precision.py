"""NanoAOD's stored precision: the rounding is CMSSW's, the table is what real v12 files hold,
and both the reference detector's files and the flash output sit on its grid."""

from __future__ import annotations

import struct

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.nanoaod.storage_precision import PRECISION, reduce_mantissa, round_branches


def _cmssw(value: float, bits: int) -> float:
    """``MiniFloatConverter::reduceMantissaToNbitsRounding`` one value at a time, as written in CMSSW."""
    i32 = struct.unpack("<I", struct.pack("<f", value))[0]
    shift = 23 - bits
    if i32 & (1 << (shift - 1)):
        mantissa = (i32 & 0x007FFFFF) >> shift
        if mantissa < (1 << bits) - 2:
            mantissa += 1
        i32 = (i32 & 0xFF800000) | (mantissa << shift)
    else:
        i32 &= (0xFFFFFFFF >> shift) << shift
    return struct.unpack("<f", struct.pack("<I", i32))[0]


def _explicit_bits(x: np.ndarray) -> int:
    """The fewest fraction bits that hold every value of ``x`` (float32)."""
    x = np.asarray(x, np.float32)
    x = x[np.isfinite(x) & (x != 0)]
    return next(b for b in range(1, 24) if b == 23 or np.array_equal(reduce_mantissa(x, b), x))


def _flat(name: str, tree) -> np.ndarray:
    return ak.to_numpy(ak.flatten(tree[name].array(), axis=None)).astype(np.float32)


@pytest.mark.parametrize("bits", [6, 8, 10, 12, 14, 16])
def test_rounding_is_cmssws(bits):
    rng = np.random.default_rng(bits)
    x = np.concatenate([rng.normal(0, 100, 3000), rng.uniform(0.995, 1.0, 1000), -rng.uniform(0.999, 1, 300)])
    x = x.astype(np.float32)
    expected = np.array([_cmssw(float(v), bits) for v in x], np.float32)
    assert np.array_equal(reduce_mantissa(x, bits), expected)
    assert np.array_equal(reduce_mantissa(expected, bits), expected)  # idempotent
    below_one = np.nextafter(np.float32(1), np.float32(0))
    assert reduce_mantissa(np.array([below_one]), bits)[0] == 1 - 2.0 ** -(bits + 1)  # never carries up to 1
    assert np.array_equal(reduce_mantissa(np.array([np.inf, -np.inf, 0.0]), bits), [np.inf, -np.inf, 0.0])
    assert np.isnan(reduce_mantissa(np.array([np.nan]), bits)[0])


def test_table_is_what_real_nanoaod_holds(nanoaod_dir):
    """Every table field that a real file holds sits on the table's grid, and needs all of its bits
    where it has >= 100 distinct values; every other float branch of the same collections in the v12 file is
    finer than 16 bits (a branch missing from the table would show here)."""
    checked, finer = 0, 0
    for path in ("nano_tt_v12.root", "nano_dy.root"):
        tree = uproot.open(nanoaod_dir / path)["Events"]
        for coll, fields in PRECISION.items():
            for field, bits in fields.items():
                name = field if coll == "" else f"{coll}_{field}"
                if name not in tree:
                    continue
                x = _flat(name, tree)
                assert np.array_equal(reduce_mantissa(x, bits), x), f"{path}: {name} finer than {bits} bits"
                if len(np.unique(x)) >= 100:  # enough values to need every bit
                    assert _explicit_bits(x) == bits, f"{path}: {name} holds {_explicit_bits(x)} bits, table {bits}"
                    checked += 1
        if path != "nano_tt_v12.root":
            continue
        for name, branch in tree.items():
            coll, _, field = name.partition("_")
            if coll not in PRECISION:
                coll, field = "", name
            if field in PRECISION[coll] or coll in ("", "GenJet") or "f4" not in str(branch.interpretation):
                continue
            x = _flat(name, tree)
            if len(np.unique(x)) >= 100:
                assert _explicit_bits(x) > 16, f"{name}: {_explicit_bits(x)} bits, not in the table"
                finer += 1
    assert checked >= 120 and finer >= 15, (checked, finer)


def _assert_on_grid(arrays: dict, where: str) -> int:
    n = 0
    for coll, fields in PRECISION.items():
        for field, bits in fields.items():
            name = field if coll == "" else f"{coll}_{field}"
            if name in arrays:
                x = np.asarray(arrays[name], np.float32)
                assert np.array_equal(reduce_mantissa(x, bits), x), f"{where}: {name} is finer than {bits} bits"
                n += 1
    return n


def test_reference_files_are_on_the_grid(tt_sample):
    tree = uproot.open(tt_sample)["Events"]
    arrays = {k: _flat(k, tree) for k in tree.keys() if "f4" in str(tree[k].interpretation)}
    assert _assert_on_grid(arrays, str(tt_sample)) >= 150
    # computed in full precision before the rounding: Jet_pt takes 2^10 values per octave, not fewer
    assert _explicit_bits(arrays["Jet_pt"]) == 10 and _explicit_bits(arrays["Muon_pt"]) > 16


def test_flash_output_is_on_the_grid(tt_gen):
    from flashsim_coffea.sim.cards import DEFAULT_MODELS
    from flashsim_coffea.sim.engine import EVENT_RECORDS, FlashSim

    out = FlashSim.load(DEFAULT_MODELS).simulate(tt_gen[:100], seed=4, replicas=2)
    arrays = {}
    for coll in out.fields:
        rec = out[coll]
        if coll in EVENT_RECORDS:
            arrays.update({f"{EVENT_RECORDS[coll]}{f}": ak.to_numpy(rec[f]) for f in rec.fields})
        elif rec.fields:
            arrays.update({f"{coll}_{f}": ak.to_numpy(ak.flatten(rec[f], axis=None)) for f in rec.fields})
    assert _assert_on_grid(arrays, "flash") >= 150
    assert _explicit_bits(arrays["Jet_pt"]) == 10 and _explicit_bits(arrays["Jet_chHEF"]) == 6


def test_round_branches_keeps_structure_and_integers():
    jets = ak.Array([[{"pt": 41.3717, "jetId": 6}, {"pt": 20.123, "jetId": 2}], []])
    out = round_branches({"Jet": jets, "MET_pt": np.array([12.3456789, 1.0]), "PV_z": np.array([0.1, 2.0])})
    assert ak.num(out["Jet"]).tolist() == [2, 0] and out["Jet"].jetId.tolist() == [[6, 2], []]
    assert out["Jet"].pt.tolist() == [[41.375, 20.125], []]
    assert out["MET_pt"][0] == 12.3456789  # full precision in v12: passed as given
    assert out["PV_z"][0] == reduce_mantissa(np.array([0.1]), 16)[0] != np.float32(0.1)
