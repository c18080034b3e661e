"""Doctest namespace: ``SHARED``, the folder of real CMS NanoAOD files beside the repository.

Docstring examples run with ``python -m pytest --doctest-modules flashsim_coffea processors``;
those that need a trained model use the shipped ``flashsim_coffea/models/``, those that need NanoAOD read
``SHARED / "nano_tt_v12.root"`` (override the folder with ``FLASHSIM_SHARED_NANOAOD``).
"""

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _shared_nanoaod(doctest_namespace):
    here = Path(__file__).resolve().parent
    default = here.parent / "shared" / "data" / "nanoaod"
    doctest_namespace["SHARED"] = Path(os.environ.get("FLASHSIM_SHARED_NANOAOD", default))
