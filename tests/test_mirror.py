"""Mirror images of training rows (φ -> -φ, η -> -η) and the block-wise train/validation split."""

from __future__ import annotations

import numpy as np
import pytest

from flashsim_coffea.specs import all_sources
from flashsim_coffea.train import mirror
from flashsim_coffea.train.loop import split


def test_each_reflection_negates_its_odd_fields_with_their_gen_and_conditioning_columns():
    cols = {k: np.array([0.5, -1.0]) for k in ("phi", "gen_phi", "cond_phi", "dxy", "eta", "gen_eta", "cond_eta",
                                                   "dz", "deltaEtaSC", "cond_abs_eta", "pt", "charge")}
    phi = mirror.reflect(cols, ("phi",))
    assert {k for k in cols if np.all(phi[k] == -cols[k])} == {"phi", "gen_phi", "cond_phi", "dxy"}
    eta = mirror.reflect(cols, ("eta",))
    # deltaEtaSC (SC η from the origin minus η from the vertex) follows z_PV, not η: even
    assert {k for k in cols if np.all(eta[k] == -cols[k])} == {"eta", "gen_eta", "cond_eta", "dz"}
    both = mirror.reflect(cols, ("phi", "eta"))
    assert {k for k in cols if np.all(both[k] == -cols[k])} == {"phi", "gen_phi", "cond_phi", "dxy", "eta", "gen_eta",
                                                                 "cond_eta", "dz"}
    assert cols["phi"][0] == 0.5  # inputs untouched
    with pytest.raises(ValueError, match="unknown reflection 'y'"):
        mirror.reflections(("y",))


def test_the_tau_leading_track_offsets_flip_with_their_angle():
    # leadTkDeltaPhi = phi(track) - phi(tau): both negate under phi -> -phi; leadTkDeltaEta likewise under eta
    cols = {"phi": np.array([0.3]), "eta": np.array([1.2]), "leadTkDeltaPhi": np.array([0.02]),
            "leadTkDeltaEta": np.array([-0.01]), "leadTkPtOverTauPt": np.array([0.6])}
    track_phi, track_eta = cols["phi"] + cols["leadTkDeltaPhi"], cols["eta"] + cols["leadTkDeltaEta"]
    for r in mirror.reflections(("phi", "eta")):
        m = mirror.reflect(cols, r)
        # the image's leading track is the image of the leading track
        assert np.allclose(m["phi"] + m["leadTkDeltaPhi"], -track_phi if "phi" in r else track_phi)
        assert np.allclose(m["eta"] + m["leadTkDeltaEta"], -track_eta if "eta" in r else track_eta)
        assert m["leadTkPtOverTauPt"][0] == 0.6
    names = ["leadTkDeltaPhi", "leadTkDeltaEta"]
    x = np.array([[0.02, -0.01]])
    assert mirror.matrix_with_images(x, names, ("phi", "eta")).tolist() == [[0.02, -0.01], [-0.02, -0.01],
                                                                          [0.02, 0.01], [-0.02, 0.01]]


def test_every_angle_difference_a_mirrored_source_learns_is_odd_under_its_reflection():
    # a target named *DeltaPhi / *DeltaEta is a difference of two angles of the object (deltaEtaSC, from the
    # origin vs from the vertex, is even: module doc)
    seen = set()
    for key, src in all_sources().items():
        for t in src.targets if src.mirror else ():
            for kind, tag in (("phi", "DeltaPhi"), ("eta", "DeltaEta")):
                if tag in t:
                    seen.add(t)
                    other = "eta" if kind == "phi" else "phi"
                    assert mirror.is_odd(t, (kind,)) and not mirror.is_odd(t, (other,)), (key, t)
    assert {"leadTkDeltaPhi", "leadTkDeltaEta"} <= seen


def test_images_come_block_after_block_and_the_matrix_form_agrees_with_the_columns():
    cols = {"eta": np.array([1.0, 2.0, 3.0]), "phi": np.array([0.1, 0.2, 0.3]), "pt": np.array([10.0, 20.0, 30.0])}
    big = mirror.with_images(cols, ("phi", "eta"))
    assert big["eta"].tolist() == [1, 2, 3, 1, 2, 3, -1, -2, -3, -1, -2, -3]
    assert big["phi"].tolist() == [0.1, 0.2, 0.3, -0.1, -0.2, -0.3, 0.1, 0.2, 0.3, -0.1, -0.2, -0.3]
    assert big["pt"].tolist() == [10, 20, 30] * 4
    names = ["eta", "phi", "pt"]
    x = np.stack([cols[n] for n in names], 1)
    assert np.array_equal(mirror.matrix_with_images(x, names, ("phi", "eta")), np.stack([big[n] for n in names], 1))
    assert np.array_equal(mirror.matrix_with_images(x, names, ()), x)


def test_block_split_keeps_every_image_on_the_side_of_its_row():
    tr, va = split(400, 0.1, seed=3, blocks=4)
    assert len(va) == 40 and len(tr) == 360 and not set(tr) & set(va)
    for idx in (tr, va):
        rows = idx % 100
        assert all(np.sum(rows == r) == 4 for r in np.unique(rows))  # a row's four copies together
    assert np.array_equal(split(100, 0.1, seed=3)[1], va[va < 100])  # first block: the plain split
    with pytest.raises(ValueError, match="equal blocks"):
        split(401, 0.1, seed=3, blocks=4)


def test_the_egamma_and_tau_sources_mirror_both_ways_and_the_others_not_at_all():
    """Those whose eta region is a category (an eta image lies in another region) in phi alone."""
    for key, src in all_sources().items():
        mirrored = key.split("_")[0] in ("Electron", "Photon", "Tau")
        want = ("phi",) if "eta:region" in src.categories and mirrored else ("phi", "eta") if mirrored else ()
        assert src.mirror == want, key
    assert all_sources()["Electron_uefake"].mirror == ("phi",)


def test_mirrored_training_learns_a_symmetric_impact_parameter_from_a_lopsided_sample():
    # a displaced-track dxy whose sign is random: the training sample (200 rows) happens to be
    # lopsided; with the mirror images the flow's dxy comes out symmetric
    import torch

    from flashsim_coffea.sim.flow import sample
    from flashsim_coffea.train.flow import train_flow

    rng = np.random.default_rng(0)
    n = 200
    phi = rng.uniform(-np.pi, np.pi, n)
    dxy = np.abs(rng.normal(0, 1, n)) * np.where(rng.random(n) < 0.8, 1.0, -1.0)  # 80% positive
    x = np.stack([dxy], 1).astype(np.float32)
    c = np.stack([phi], 1).astype(np.float32)
    xm = mirror.matrix_with_images(x, ["dxy"], ("phi",))
    cm = mirror.matrix_with_images(c, ["phi"], ("phi",))
    ctx = rng.uniform(-np.pi, np.pi, (4000, 1)).astype(np.float32)

    def positive(x, c, images):
        net, h = train_flow(x, c, {"hidden": [32, 32]}, seed=1, epochs=150, batch_size=64, images=images,
                            progress=False)
        out = sample(net, torch.as_tensor(ctx), steps=20, generator=torch.Generator().manual_seed(2))[:, 0]
        return np.mean(out > 0), h

    plain, _ = positive(x, c, 0)
    mirrored, h = positive(xm, cm, 1)
    assert h["n_train"] == 2 * 180 and h["n_val"] == 2 * 20
    assert plain > 0.6, plain  # the lopsided sample (80% positive), learnt as it is
    assert 0.42 < mirrored < 0.58, mirrored
