"""Reference detector, secondary vertices (issue 23): the ``SV`` collection and its v12 links."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.reference import sanity, vertices


def _truth(n_events: int, flight_mm: float, track_pt: float, n_tracks: int = 4) -> ak.Array:
    """Events with one B-like decay: ``n_tracks`` charged pions of ``track_pt`` in a narrow cone around
    eta = 0.3, phi = 0.5, produced ``flight_mm`` along the cone axis, plus 10 prompt soft pions."""
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(n_events):
        eta = 0.3 + rng.normal(0, 0.08, n_tracks)
        phi = 0.5 + rng.normal(0, 0.08, n_tracks)
        axis = np.array([np.cos(0.5), np.sin(0.5), np.sinh(0.3)])
        v = axis / np.linalg.norm(axis) * flight_mm
        ev = []
        for k in range(n_tracks + 10):
            disp = k < n_tracks
            pt = track_pt if disp else 0.9
            e, ph = (eta[k], phi[k]) if disp else (rng.uniform(-2, 2), rng.uniform(-3, 3))
            ev.append({"pt": pt, "eta": e, "phi": ph, "px": pt * np.cos(ph), "py": pt * np.sin(ph),
                       "pz": pt * np.sinh(e), "pdgId": 211, "charge": 1.0 if k % 2 else -1.0,
                       "vx": v[0] if disp else 0.0, "vy": v[1] if disp else 0.0, "vz": v[2] if disp else 0.0,
                       "genPartIdx": -1})
        rows.append(ev)
    return ak.zip({"particles": ak.Array(rows)}, depth_limit=1)


def _run(truth: ak.Array, seed: int = 1, jets: ak.Array | None = None):
    n = len(truth)
    jets = ak.Array([[{"pt": 50.0, "eta": 0.3, "phi": 0.5}]] * n) if jets is None else jets
    pv = tuple(np.zeros(n, np.float32) for _ in range(3))
    return vertices.reconstruct_svs(truth, jets, None, None, pv, np.random.default_rng(seed))


def test_schema_dtypes_match_real_files(nanoaod_dir):
    """SV fields: nano_dy.root dtypes (its 14 fields) + v12 charge int16 / ntracks uint8; links: nano_tt_v12."""
    with uproot.open(nanoaod_dir / "nano_dy.root") as f:
        dy = {k[3:]: f["Events"][k].interpretation.content.from_dtype.newbyteorder("=").name
              for k in f["Events"].keys(filter_name="SV_*")}
    assert set(dy) | {"charge", "ntracks"} == set(schema.SCHEMA["SV"])
    assert {k: schema.SCHEMA["SV"][k] for k in dy} == dy
    assert (schema.SCHEMA["SV"]["charge"], schema.SCHEMA["SV"]["ntracks"]) == ("int16", "uint8")
    with uproot.open(nanoaod_dir / "nano_tt_v12.root") as f:
        for coll, field in (("Jet", "svIdx1"), ("Jet", "svIdx2"), ("Jet", "nSVs"), ("Muon", "svIdx"),
                            ("Electron", "svIdx")):
            real = f["Events"][f"{coll}_{field}"].interpretation.content.from_dtype.newbyteorder("=").name
            assert schema.SCHEMA[coll][field] == real, (coll, field)


def test_resolution_pull_and_flight_distance():
    """A 5 mm decay of four 5 GeV tracks: found almost always, dlen pull = (dlen - L) / (dlen / dlenSig)
    has unit width (dlenSig = dlen / sigma); the same decay at 20 um (below the seed IP) is never kept."""
    far = _truth(300, 5.0, 5.0)
    sv, jets, _, _ = _run(far)
    n = ak.num(sv)
    assert 0.80 < np.mean(n >= 1) <= 1.0  # find_eff(>=3 tracks) x tracking efficiency^k
    one = sv[n == 1]
    dlen = ak.to_numpy(one.dlen[:, 0]).astype(float)
    sigma = dlen / ak.to_numpy(one.dlenSig[:, 0])
    pull = (dlen - 0.5) / sigma
    assert abs(np.mean(pull)) < 0.25 and 0.8 < np.std(pull) < 1.25
    assert 20e-4 < np.median(sigma) < 600e-4  # tens to hundreds of um
    assert np.all(one.ntracks[:, 0] >= 2) and np.all(one.mass[:, 0] > 0.2)
    near, _, _, _ = _run(_truth(300, 0.02, 5.0))
    assert ak.sum(ak.num(near)) == 0
    soft, _, _, _ = _run(_truth(300, 5.0, 0.6))  # tracks below the IVF 0.8 GeV cut
    assert ak.sum(ak.num(soft)) <= 0.05 * 300  # only fakes from the prompt 0.9 GeV pions
    # the jet link: every SV of these events sits inside the jet
    assert ak.all(jets.nSVs[:, 0] == n) and ak.all(jets.svIdx1[:, 0] == ak.where(n > 0, 0, -1))


def test_same_seed_same_vertices():
    tr = _truth(50, 3.0, 3.0)
    a, b, c = _run(tr, 4)[0], _run(tr, 4)[0], _run(tr, 5)[0]
    assert ak.to_list(a) == ak.to_list(b)
    assert ak.to_list(a) != ak.to_list(c)


def test_bad_pv_length_names_it():
    tr = _truth(3, 3.0, 3.0)
    with pytest.raises(ValueError, match="PV_x"):
        vertices.reconstruct_svs(tr, ak.Array([[]] * 3), None, None, (np.zeros(2),) * 3, np.random.default_rng(1))


@pytest.fixture(scope="module")
def events(tt_sample):
    with uproot.open(tt_sample) as f:
        return f["Events"].arrays(filter_name=["SV_*", "nSV", "PV_*", "Jet_*", "Muon_*", "Electron_*"])


def test_sample_fields_links_and_ordering(events):
    ev = events
    assert {f"SV_{k}" for k in schema.SCHEMA["SV"]} <= set(ev.fields)
    for k, dt in schema.SCHEMA["SV"].items():
        assert ak.flatten(ev[f"SV_{k}"]).type.content.primitive == dt, k
    n_sv = ak.num(ev.SV_pt)
    assert ak.sum(n_sv) > len(ev)  # ttbar: > 1 SV per event
    # pT-descending; dlen >= dxy; NanoAOD's dlenSig > 3; pAngle = acos(p . (PV - SV)) near pi
    assert ak.all(ev.SV_pt[:, :-1] >= ev.SV_pt[:, 1:])
    assert ak.all(ev.SV_dlen >= ev.SV_dxy) and ak.all(ev.SV_dlenSig > 3) and ak.all(ev.SV_pAngle > 2.8)
    assert ak.all(ev.SV_ntracks >= 2) and ak.all(abs(ev.SV_charge) <= ev.SV_ntracks)
    # the decay length is the distance to the PV
    d = np.sqrt((ev.SV_x - ev.PV_x) ** 2 + (ev.SV_y - ev.PV_y) ** 2 + (ev.SV_z - ev.PV_z) ** 2)
    assert ak.all(abs(d - ev.SV_dlen) < 1e-3 + 2e-3 * ev.SV_dlen)  # stored precision: 10 bits (z 14)
    # Jet links: in range, ordered, pointing to an SV within dR < 0.4; nSVs counts exactly those SVs
    i1, i2, nsv = ev.Jet_svIdx1, ev.Jet_svIdx2, ev.Jet_nSVs
    assert ak.all((i1 >= -1) & (i1 < n_sv) & (i2 >= -1) & (i2 < n_sv))
    assert ak.all(ak.where(i2 >= 0, i1 < i2, True)) and ak.all((i1 >= 0) == (nsv >= 1)) and ak.all((i2 >= 0) == (nsv >= 2))
    pair = ak.cartesian([ak.zip({"eta": ev.Jet_eta, "phi": ev.Jet_phi}),
                         ak.zip({"eta": ev.SV_eta, "phi": ev.SV_phi})], nested=True)
    dphi = (pair["0"].phi - pair["1"].phi + np.pi) % (2 * np.pi) - np.pi
    near = (pair["0"].eta - pair["1"].eta) ** 2 + dphi**2 < 0.16
    assert ak.all(ak.sum(near, axis=2) == nsv)
    local = ak.local_index(near, axis=2)
    assert ak.all(ak.any(near & (local == i1[:, :, None]), axis=2) == (i1 >= 0))
    # lepton links in range; non-prompt (b/c) muons are the ones in an SV
    for name in ("Muon", "Electron"):
        s = ev[f"{name}_svIdx"]
        assert ak.all((s >= -1) & (s < n_sv))
    flav = ev.Muon_genPartFlav
    in_sv = ak.flatten(ev.Muon_svIdx >= 0)
    assert np.mean(in_sv[ak.flatten(flav == 1)]) < 0.05  # prompt muons: no SV
    assert ak.sum(in_sv[ak.flatten((flav == 5) | (flav == 4))]) > 0


def test_sv_rates_order_b_c_light(events):
    f = sanity.sv_jet_fractions(events)
    assert f["b"] > f["c"] > f["light"]
    assert 0.45 < f["b"] < 0.9 and 0.1 < f["c"] < 0.55 and f["light"] < 0.1
