"""Builds otelbridge._native, the cffi extension (out-of-line API mode) over libotelbridge.

Everything else is in pyproject.toml; see otelbridge_build.py for how the library is found. When
it is built from source (no OTELBRIDGE_PREFIX, no pkg-config), build_ext builds it first and
copies it into the package (bundled, found through the extension's rpath $ORIGIN).
"""

import runpy
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent


class BuildExt(build_ext):
    def run(self) -> None:
        self.force = True  # never reuse an extension linked against another library location
        ns = runpy.run_path(str(HERE / "otelbridge_build.py"))
        loc = ns["_loc"]
        if loc.bundle:
            built = ns["build_native"](loc, self.parallel or 2)
            for dest in {Path(self.build_lib) / "otelbridge",
                         *([HERE / "otelbridge"] if self.inplace else [])}:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(built, dest / built.name)
        super().run()


# The extensions are declared only for commands that build them: making an sdist (or the
# metadata: egg_info, dist_info) must not need libotelbridge, and otelbridge_build.py locates
# it as soon as it runs (cffi_modules runs it inside setup()).
_BUILDS = {"build", "build_ext", "bdist_wheel", "bdist_egg", "install", "develop",
           "editable_wheel"}

if _BUILDS.intersection(sys.argv[1:]):
    # otelbridge._speedups (the hot paths in C) is built by the same build_ext, against the same
    # library; otelbridge_build.py knows where that is. setup.py runs in this directory, so the
    # source path is relative, as setuptools wants it.
    _speedups = runpy.run_path(str(HERE / "otelbridge_build.py"))["speedups_extension"]()
    setup(cffi_modules=["otelbridge_build.py:ffibuilder"], ext_modules=[_speedups],
          cmdclass={"build_ext": BuildExt})
else:
    setup()
