"""Build step only (the project's metadata is in pyproject.toml): a wheel carries the
top-level ``notebooks/``, ``templates/`` and ``samples/`` folders as package data under
``studio_kit/_bundled/``, so an installed studio has them without a checkout
(``studio_kit.resources`` finds the checkout's copy first, then this one).

The folders stay where they are in the source tree; ``build_py`` copies them into the
build directory. An sdist carries them through MANIFEST.in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED_FOLDERS = ("notebooks", "templates", "samples")
#: never shipped: render caches, outputs, editor and interpreter leftovers
IGNORE = shutil.ignore_patterns(".studio", "out", "__pycache__", "*.pyc", ".ipynb_checkpoints",
                                ".DS_Store", "*~")


class BuildPyWithData(build_py):
    """build_py, then copy the shipped folders into ``<build_lib>/studio_kit/_bundled``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders directly
        dest_root = Path(self.build_lib) / "studio_kit" / "_bundled"
        for name in BUNDLED_FOLDERS:
            src = ROOT / name
            if not src.is_dir():
                raise SystemExit(f"setup.py: {src} is missing: a wheel without it cannot "
                                 "run `studio new --sample`, `demo` or `serve`")
            dest = dest_root / name
            if dest.exists():
                shutil.rmtree(dest)  # a stale build/ must not keep deleted files
            shutil.copytree(src, dest, ignore=IGNORE)
            self.announce(f"bundled {name}/ -> {dest}", level=2)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        dest_root = Path(self.build_lib) / "studio_kit" / "_bundled"
        outputs += [str(p) for p in dest_root.rglob("*") if p.is_file()]
        return outputs


setup(cmdclass={"build_py": BuildPyWithData})
