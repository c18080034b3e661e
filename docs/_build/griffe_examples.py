"""Griffe extension of the API pages: the project's docstrings write their doctest examples under
``Example:`` (singular), which Google style reads as a plain admonition; read it as ``Examples:`` so
that the ``>>>`` lines render as code (and their ``[...]`` are not taken for Markdown links)."""

from __future__ import annotations

import re

import griffe

_EXAMPLE = re.compile(r"(?m)^(\s*)Example:[ \t]*$")


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section headers to ``Examples:`` before the docstring is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
