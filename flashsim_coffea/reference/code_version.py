"""The code that makes reference samples, found from its imports, and its hash (the sample cache key).

:func:`imports` lists what one source file imports: every ``import`` / ``from ... import``,
function bodies included, relative imports resolved (``tests/test_layout.py`` checks the import
directions with it). :func:`dependencies` follows those that are modules of the package (a file
``a/b.py`` or ``a/b/__init__.py``), transitively; the ``__init__.py`` of each package on the way
runs on import, so it counts too. Sources are read with :mod:`ast`, never imported, so a copy of
the package elsewhere can be examined. Imports made from strings at run time (``importlib``) are
not seen.

:func:`code_version` hashes the files :data:`ENTRY` depends on: editing any of them changes the
key, editing any other file of the package does not.

Example:
    A module's dependencies include the ``__init__.py`` of each package above it:

    >>> [p.relative_to(PACKAGE_DIR).as_posix() for p in dependencies("flashsim_coffea.nanoaod.status_flags")]
    ['__init__.py', 'nanoaod/__init__.py', 'nanoaod/status_flags.py']

    The sample code reaches the detector modules, not the sanity figures or the cache:

    >>> names = [p.relative_to(PACKAGE_DIR).as_posix() for p in dependencies()]
    >>> "reference/pythia.py" in names, "reference/sanity.py" in names, "reference/cache.py" in names
    (True, False, False)
    >>> len(code_version())
    12
"""

from __future__ import annotations

import ast
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

#: The package directory of this checkout (``.../flashsim_coffea``).
PACKAGE_DIR = Path(__file__).resolve().parents[1]

#: The module that makes a sample: the root of the cache key's dependencies.
ENTRY = "flashsim_coffea.reference.generate"


def module_file(module: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """Source file of ``module`` (a dotted name under the package of ``package_dir``), or None.

    Example:
        >>> module_file("flashsim_coffea.reference.pythia").relative_to(PACKAGE_DIR).as_posix()
        'reference/pythia.py'
        >>> module_file("numpy") is None
        True
    """
    top, *rest = module.split(".")
    if top != package_dir.name:
        return None
    base = package_dir.joinpath(*rest)
    for path in (base.with_suffix(".py") if rest else None, base / "__init__.py"):
        if path is not None and path.is_file():
            return path
    return None


def _parse(path: Path) -> ast.AST:
    """``ast.parse`` of a file; retried in a fresh thread if CPython 3.11 raises SystemError.

    CPython 3.11 can leave a thread's recursion count off (after a caught RecursionError, for
    one), and ``ast.parse`` in that thread then fails with "AST constructor recursion depth
    mismatch"; a new thread starts from a clean count.
    """
    source = path.read_bytes()
    try:
        return ast.parse(source, filename=str(path))
    except SystemError:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(ast.parse, source, str(path)).result()


def imports(path: Path, module: str) -> set[str]:
    """Absolute names of the modules that the source ``path`` of ``module`` imports, anywhere in it.

    Third-party modules included; relative imports resolved; ``from pkg import name`` gives
    ``pkg.name`` when that is a module file next to ``pkg``, else ``pkg``.

    Example:
        >>> sorted(imports(PACKAGE_DIR / "reference" / "pythia.py", "flashsim_coffea.reference.pythia"))
        ['__future__', 'awkward', 'flashsim_coffea.reference.processes', 'numpy', 'pythia8mc']
    """
    parts = module.split(".")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    is_package = path.name == "__init__.py"
    here = parts if is_package else parts[:-1]
    source_root = path.parents[len(parts) - (0 if is_package else 1)]
    names: set[str] = set()
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            package = here[: len(here) - node.level + 1] if node.level else []
            base = [*package, *(node.module.split(".") if node.module else [])]
            for alias in node.names:
                sub = source_root.joinpath(*base, alias.name)
                is_module = sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file()
                names.add(".".join([*base, alias.name] if is_module else base))
    return names


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def dependencies(module: str = ENTRY, package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Sorted source files of ``module`` and of every package module it reaches through imports."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        for name in _with_parents(todo.pop()):
            path = module_file(name, package_dir)
            if name not in seen and path is not None:
                seen[name] = path
                todo.extend(imports(path, name))
    return sorted(set(seen.values()))


def code_version(package_dir: Path = PACKAGE_DIR, module: str = ENTRY) -> str:
    """Short hash of the files that ``module`` depends on (path relative to the package's parent + bytes)."""
    h = hashlib.sha256()
    for path in dependencies(module, package_dir):
        h.update(path.relative_to(package_dir.parent).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:12]
