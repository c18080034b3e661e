"""The engine's input: gen-level NanoAOD collections of one chunk, checked.

The engine takes a NanoEvents-like record (``gen.GenPart.pt``, ``gen.GenJet.eta``,
``gen.GenMET.pt``, ``gen.Pileup.nTrueInt``, ...). coffea's ``events`` already has this
shape; :func:`from_branches` builds it from flat uproot branches (``GenPart_pt``,
``nGenPart``, ...) so that the engine also runs without coffea.

:data:`GEN_BRANCHES` lists every branch the engine reads; :func:`check` refuses a
chunk with a missing branch or a NaN/inf value, naming it.

Example:
    >>> import uproot
    >>> arrays = uproot.open(SHARED / "nano_tt_v12.root")["Events"].arrays(
    ...     filter_name=[*branch_names(), "run", "luminosityBlock", "event"], entry_stop=50)
    >>> gen = check(from_branches(arrays), source="nano_tt_v12.root")
    >>> len(gen), gen.fields  # this v12 file has no GenVisTau (optional)
    (50, ['GenPart', 'GenJet', 'GenJetAK8', 'SubGenJetAK8', 'GenMET', 'Pileup', 'run', 'luminosityBlock', 'event'])
    >>> gen.GenJet.pt[0, :3], gen.Pileup[0].tolist()
    (<Array [112, 76.6, 76.1] type='3 * float32'>, {'nTrueInt': 32.0625, 'nPU': 30})
"""

from __future__ import annotations

import awkward as ak
import numpy as np

#: collection -> fields the engine reads (gen level only).
GEN_BRANCHES: dict[str, tuple[str, ...]] = {
    "GenPart": ("pt", "eta", "phi", "mass", "pdgId", "status", "statusFlags", "genPartIdxMother"),
    "GenJet": ("pt", "eta", "phi", "mass", "partonFlavour", "hadronFlavour"),
    "GenVisTau": ("pt", "eta", "phi", "mass", "charge", "status", "genPartIdxMother"),
    "GenJetAK8": ("pt", "eta", "phi", "mass", "partonFlavour", "hadronFlavour"),
    "SubGenJetAK8": ("pt", "eta", "phi", "mass"),
    "GenMET": ("pt", "phi"),
    "Pileup": ("nTrueInt", "nPU"),
}

#: fields read when the input has them and copied to the flash events as they are (the generator's
#: pileup summary beyond the two numbers the models read).
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {"Pileup": ("sumEOOT", "sumLOOT", "pudensity", "gpudensity")}

#: collections a chunk may lack; only the sources that use them then fail (GenVisTau is
#: absent from some NanoAOD v12 files, the AK8 gen jets from older ones): FatJet and SubJet
#: are then not simulated.
OPTIONAL = ("GenVisTau", "GenJetAK8", "SubGenJetAK8")

#: gen collections copied (replicated) from the input to the flash events, by ``flashsim simulate`` and
#: the coffea processor alike.
CARRIED = ("GenPart", "GenJet", "GenJetAK8", "SubGenJetAK8", "GenVisTau", "GenMET", "Pileup", "GenDressedLepton",
           "GenIsolatedPhoton")
#: event-level branches copied (``run/luminosityBlock/event`` are required: the random-number keys).
EVENT_IDS = ("run", "luminosityBlock", "event", "genWeight")

#: collections stored as one value per event (no ``n<Collection>`` counter).
SCALAR_COLLECTIONS = ("GenMET", "Pileup")


class GenInputError(ValueError):
    """A gen chunk the engine cannot simulate (missing branch, NaN/inf, ...)."""


def branch_names(collections: tuple[str, ...] | None = None, optional: bool = False) -> list[str]:
    """Flat NanoAOD branch names of :data:`GEN_BRANCHES` (optionally only some collections), with
    those of :data:`OPTIONAL_FIELDS` if ``optional`` (read them with uproot's ``filter_name``: a file
    may lack them).

    Example:
        >>> branch_names(("GenMET", "Pileup"))
        ['GenMET_pt', 'GenMET_phi', 'Pileup_nTrueInt', 'Pileup_nPU']
        >>> branch_names(("Pileup",), optional=True)[2:]
        ['Pileup_sumEOOT', 'Pileup_sumLOOT', 'Pileup_pudensity', 'Pileup_gpudensity']
    """
    names = []
    for coll, fields in GEN_BRANCHES.items():
        if collections is not None and coll not in collections:
            continue
        names += [f"{coll}_{f}" for f in fields]
        if optional:
            names += [f"{coll}_{f}" for f in OPTIONAL_FIELDS.get(coll, ())]
    return names


def from_branches(arrays: ak.Array, source: str = "input") -> ak.Array:
    """Nest flat branches ``<Collection>_<field>`` into a record per event.

    Arguments:
        arrays: flat branches of one chunk (``uproot``'s ``tree.arrays(...)``).
        source: name used in error messages (a file name).

    Returns:
        one record per event: a field per gen collection of :data:`GEN_BRANCHES` (an optional
        one only if present), plus ``run``, ``luminosityBlock``, ``event``, ``genWeight`` if read.

    Raises :class:`GenInputError` naming the first missing gen branch.

    Example:
        >>> import awkward as ak
        >>> from_branches(ak.Array({"GenPart_pt": [[31.5]], "GenPart_eta": [[0.3]]}), source="mine.root")
        Traceback (most recent call last):
        ...
        flashsim_coffea.nanoaod.genevents.GenInputError: mine.root: missing gen branch GenPart_phi (and 15 more)
    """
    have = set(arrays.fields)
    present = tuple(c for c in GEN_BRANCHES if c not in OPTIONAL or f"{c}_pt" in have)
    missing = [b for b in branch_names(present) if b not in have]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise GenInputError(f"{source}: missing gen branch {missing[0]}{more}")
    out = {}
    for coll, fields in GEN_BRANCHES.items():
        if coll not in present:
            continue
        depth = 1 if coll in SCALAR_COLLECTIONS else None
        fields = fields + tuple(f for f in OPTIONAL_FIELDS.get(coll, ()) if f"{coll}_{f}" in have)
        out[coll] = ak.zip({f: arrays[f"{coll}_{f}"] for f in fields}, depth_limit=depth)
    for extra in ("run", "luminosityBlock", "event", "genWeight"):
        if extra in have:
            out[extra] = arrays[extra]
    return ak.zip(out, depth_limit=1)


def check(gen: ak.Array, source: str = "input") -> ak.Array:
    """Return ``gen`` unchanged if it has every needed gen field and no NaN/inf; else raise.

    The error names the source, the branch and how many bad values it holds.

    Example:
        >>> import awkward as ak
        >>> gen = ak.Array({"GenPart": [[{f: 1 for f in GEN_BRANCHES["GenPart"]}]],
        ...                 "GenJet": [[{f: 1.0 for f in GEN_BRANCHES["GenJet"]}]],
        ...                 "GenMET": [{"pt": float("nan"), "phi": 0.5}], "Pileup": [{"nTrueInt": 35.0, "nPU": 34}]})
        >>> check(gen, source="mine.root")
        Traceback (most recent call last):
        ...
        flashsim_coffea.nanoaod.genevents.GenInputError: mine.root: 1 NaN/inf value(s) in gen branch GenMET_pt
    """
    for coll, fields in GEN_BRANCHES.items():
        if coll not in gen.fields:
            if coll in OPTIONAL:
                continue
            raise GenInputError(f"{source}: missing gen collection {coll}")
        have = set(gen[coll].fields)
        for f in fields:
            if f not in have:
                raise GenInputError(f"{source}: missing gen branch {coll}_{f}")
            values = gen[coll][f]
            flat = ak.to_numpy(ak.flatten(values, axis=None))
            if flat.dtype.kind == "f":
                bad = ~np.isfinite(flat)
                if bad.any():
                    raise GenInputError(f"{source}: {int(bad.sum())} NaN/inf value(s) in gen branch {coll}_{f}")
    return gen
