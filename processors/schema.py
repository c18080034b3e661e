"""coffea's ``NanoAODSchema`` for every NanoAOD version we read, without replacing a file's own branches.

NanoAOD v12 dropped ``Photon_mass``, ``Photon_charge``, ``Jet_charge``, ... and coffea's schema
fills them with constant zeros so that the four-vector behaviours work (``full_like_items``).
It does so even when the file holds them (NanoAOD v9 and older: ``nano_dy.root`` and the 2015
Open Data file), replacing the file's values and warning ``Branch Photon_charge already exists
but its values will be replaced with 0.0`` once per file. :class:`NanoAODSchema` fills only the
branches a file lacks: a v12 file gets the same zeros as with coffea's schema, an older file keeps
its own branches (``Photon_charge`` int32, ``Photon_mass``), and nothing is warned about that.
Every other warning of coffea's schema (missing cross-references, renames, aliases) is unchanged.

Use it wherever coffea's would go: ``processor.Runner(executor, schema=NanoAODSchema)``,
``NanoEventsFactory.from_root(..., schemaclass=NanoAODSchema)``.

Example:
    >>> import warnings
    >>> from coffea.nanoevents import NanoEventsFactory
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     events = NanoEventsFactory.from_root({str(SHARED / "nano_dy.root"): "Events"}, schemaclass=NanoAODSchema,
    ...                                          mode="virtual").events()
    >>> [str(w.message) for w in caught if "already exists" in str(w.message)]
    []
    >>> events.Photon.charge.layout.content.dtype.name  # the file's own branch, not coffea's float32 zeros
    'int32'
"""

from __future__ import annotations

from coffea.nanoevents import NanoAODSchema as _CoffeaNanoAODSchema


class NanoAODSchema(_CoffeaNanoAODSchema):
    """coffea's ``NanoAODSchema``, whose constant fills (``full_like_items``) skip branches the file holds."""

    def _build_collections(self, field_names, input_contents):
        have = set(field_names)
        self.full_like_items = {k: v for k, v in type(self).full_like_items.items() if k not in have}
        return super()._build_collections(field_names, input_contents)
