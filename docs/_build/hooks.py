"""MkDocs hooks of the documentation site (mkdocs.yml ``hooks:``).

The generated pages (``benchmarks/reference_params.py`` -> reference_detector.md,
``benchmarks/field_coverage.py`` -> field_coverage.md) are plain tables whose source tags and
formulas (``[0.05, 0.2] [mem]``, ``mu[true][k]``) read as Markdown reference links, which the
autorefs plugin reports as missing cross-references (an error under ``--strict``): escape the
second bracket on those pages only, so they render as written.
"""

from __future__ import annotations

import re

GENERATED = ("reference_detector.md", "field_coverage.md")


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Escape ``][`` and ``] [`` on the generated pages (the text shown is unchanged)."""
    if page.file.src_uri not in GENERATED:
        return markdown
    return re.sub(r"\](\s?)\[", r"]\1\\[", markdown)
