"""Builds honeyswitch, compiling its hot modules with mypyc (see honeyswitch/native.py).

Everything else is declared in pyproject.toml.  Without mypyc, a C compiler or Python's
headers the package installs as pure Python, which runs the same sources; so does
``HONEYSWITCH_PURE_BUILD=1 pip install .``.
"""
from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent


METADATA_ONLY = {"egg_info", "dist_info", "sdist", "--name", "--version"}


def native_extensions() -> list[Extension]:
    if os.environ.get("HONEYSWITCH_PURE_BUILD") or METADATA_ONLY.intersection(sys.argv[1:2]):
        return []  # metadata hooks need no compile (mypyc type-checks for ~20 s)
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("honeyswitch: mypyc is not installed; the pure-Python modules are used", file=sys.stderr)
        return []
    native = runpy.run_path(str(HERE / "honeyswitch" / "native.py"))
    paths = [str(native["source_path"](m, HERE).relative_to(HERE)) for m in native["COMPILED"]]
    cwd = os.getcwd()
    os.chdir(HERE)  # mypyc names modules by their paths from here
    try:
        exts = mypycify(paths, opt_level="3", group_name=native["group_name"](HERE))
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a failed compile leaves the pure package
        print(f"honeyswitch: mypyc failed ({e}); the pure-Python modules are used", file=sys.stderr)
        return []
    finally:
        os.chdir(cwd)
    for ext in exts:
        ext.optional = True  # no C compiler: setuptools skips them, the sources run
    return exts


setup(ext_modules=native_extensions(), options={"build_ext": {"parallel": os.cpu_count() or 1}})
