"""cffi builder for otelbridge._native (out-of-line API mode).

Where the native library is found, first match wins:
  1. $OTELBRIDGE_PREFIX, either
       - a source checkout: <prefix>/include/otelbridge/otelbridge.h and the library in
         $OTELBRIDGE_BUILD_DIR/src (if set) or <prefix>/build/src, or
       - an install prefix: <prefix>/include and <prefix>/lib (lib64, lib/<multiarch>);
     the extension links to that library in place (rpath to its directory);
  2. pkg-config: `pkg-config --cflags --libs otelbridge` (the installed library);
  3. the source tree, BUILT AND BUNDLED: $OTELBRIDGE_SOURCE_DIR, else the checkout this file
     sits in (../.. — pip builds a local directory in place). setup.py's build_ext runs
     `cmake` + `ninja` (or make) for the `otelbridge` target in $OTELBRIDGE_BUILD_DIR (an
     existing build directory is reused) or bindings/python/build/native, copies the library
     into the package as its SONAME file (libotelbridge.so.0) and links the extension with
     rpath $ORIGIN: the wheel is self-contained.
An explicit $OTELBRIDGE_PREFIX wins over pkg-config so that a developer can build against a
checkout while an older release is installed. The extension gets an rpath to the library's
directory unless it is a system directory (or $ORIGIN when bundled).

The cdef is read from the header itself, between the OTEL_CDEF_BEGIN and OTEL_CDEF_END markers,
with "OTEL_API " stripped, so the binding can never drift from the ABI.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER_REL = Path("otelbridge") / "otelbridge.h"
SYSTEM_LIBDIRS = {"/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/lib/x86_64-linux-gnu",
                  "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"}


class _Location:
    def __init__(self, include_dirs: list[str], library_dirs: list[str], origin: str,
                 extra_compile_args: list[str] | None = None,
                 source_dir: Path | None = None, build_dir: Path | None = None) -> None:
        self.include_dirs = include_dirs
        self.library_dirs = library_dirs
        self.origin = origin
        self.extra_compile_args = extra_compile_args or []
        self.source_dir = source_dir  # set when the library is built from source and bundled
        self.build_dir = build_dir

    @property
    def bundle(self) -> bool:
        return self.source_dir is not None

    def header(self) -> Path:
        for d in self.include_dirs:
            p = Path(d) / HEADER_REL
            if p.is_file():
                return p
        raise RuntimeError(f"otelbridge.h not found under {self.include_dirs} ({self.origin})")


def _has_lib(d: Path) -> bool:
    return any((d / n).exists() for n in ("libotelbridge.so", "libotelbridge.dylib"))


def _from_prefix(prefix: Path, origin: str) -> _Location | None:
    if not (prefix / "include" / HEADER_REL).is_file():
        return None
    build = os.environ.get("OTELBRIDGE_BUILD_DIR")
    candidates = ([Path(build) / "src"] if build else []) + [
        prefix / "build" / "src", prefix / "lib", prefix / "lib64",
        *sorted((prefix / "lib").glob("*-linux-gnu"))]
    for c in candidates:
        if _has_lib(c):
            return _Location([str(prefix / "include")], [str(c.resolve())],
                             origin)
    raise RuntimeError(f"{origin}: libotelbridge not found in "
                       f"{[str(c) for c in candidates]}; build it first (ninja -C build)")


def _from_pkg_config() -> _Location | None:
    try:
        out = subprocess.run(["pkg-config", "--cflags", "--libs", "otelbridge"],
                             capture_output=True, text=True, check=False)
    except OSError:
        return None
    if out.returncode != 0:
        return None
    inc, lib, other = [], [], []
    for tok in shlex.split(out.stdout):
        if tok.startswith("-I"):
            inc.append(tok[2:])
        elif tok.startswith("-L"):
            lib.append(tok[2:])
        elif tok.startswith("-l"):
            pass
        else:
            other.append(tok)
    if not inc:
        inc = ["/usr/include", "/usr/local/include"]
    return _Location(inc, lib, "pkg-config otelbridge",
                     [t for t in other if t.startswith(("-D", "-pthread"))])


def locate() -> _Location:
    prefix = os.environ.get("OTELBRIDGE_PREFIX")
    if prefix:
        loc = _from_prefix(Path(prefix).resolve(), f"OTELBRIDGE_PREFIX={prefix}")
        if loc is None:
            raise RuntimeError(f"OTELBRIDGE_PREFIX={prefix}: no include/{HEADER_REL} there")
        return loc
    loc = _from_pkg_config()
    if loc is not None:
        return loc
    src_env = os.environ.get("OTELBRIDGE_SOURCE_DIR")
    src = Path(src_env).resolve() if src_env else HERE.parent.parent  # bindings/python -> root
    if (src / "CMakeLists.txt").is_file() and (src / "include" / HEADER_REL).is_file():
        build = os.environ.get("OTELBRIDGE_BUILD_DIR")
        return _Location([str(src / "include")], [str(Path(build or HERE / "build" / "native")
                                                      .resolve() / "src")],
                         f"built from {src} and bundled", source_dir=src,
                         build_dir=Path(build).resolve() if build else HERE / "build" / "native")
    raise RuntimeError("libotelbridge not found: install it (pkg-config otelbridge), set "
                       "OTELBRIDGE_SOURCE_DIR to an otelbridge source tree to build and bundle "
                       "it, or OTELBRIDGE_PREFIX to an install prefix or a built checkout")


def build_native(loc: _Location, jobs: int = 2) -> Path:
    """Builds libotelbridge from loc.source_dir in loc.build_dir (reusing a configured build
    directory) and returns the path of the library file named by its SONAME."""
    import shutil

    assert loc.source_dir is not None and loc.build_dir is not None
    bdir = loc.build_dir
    if not (bdir / "CMakeCache.txt").is_file():
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        subprocess.run(["cmake", "-S", str(loc.source_dir), "-B", str(bdir), *gen,
                        "-DCMAKE_BUILD_TYPE=Release", "-DOTELBRIDGE_BUILD_TESTS=OFF"],
                       check=True)
    subprocess.run(["cmake", "--build", str(bdir), "--target", "otelbridge", "-j", str(jobs)],
                   check=True)
    link = bdir / "src" / "libotelbridge.so"
    soname = os.readlink(link) if link.is_symlink() else link.name  # libotelbridge.so.<major>
    path = link.parent / soname
    if not path.exists():
        raise RuntimeError(f"built library not found at {path}")
    return path


def read_cdef(header: Path) -> str:
    text = header.read_text(encoding="utf-8")
    m = re.search(r"/\*\s*OTEL_CDEF_BEGIN\s*\*/(.*?)/\*\s*OTEL_CDEF_END\s*\*/", text, re.S)
    if m is None:
        raise RuntimeError(f"{header}: OTEL_CDEF_BEGIN/OTEL_CDEF_END markers not found")
    return m.group(1).replace("OTEL_API ", "")


# Observable instruments: the engine calls otelbridge_observe_trampoline on its collection thread,
# which enters Python (otelbridge_py_observe; cffi takes the GIL) only while the binding is
# attached. otelbridge.metrics detaches at interpreter exit, after the exit flush; detaching waits
# (up to 2 s, with the GIL released, as cffi releases it around every call) for a callback in
# progress, so no thread enters an interpreter that is being finalized. The library's own flush
# in exit() runs after that and skips the Python callbacks. After fork() the child's count is the
# forking thread's own (0, or 1 when a callback forked): the parent's collecting thread, inside a
# callback at that moment, does not exist there, and its count made every such child's exit hook
# wait the full 2 s (a pthread_atfork child handler, registered when the module is loaded).
_EXTRA_CDEF = """
extern "Python" void otelbridge_py_observe(otel_observer *, void *);
void otelbridge_observe_trampoline(otel_observer *, void *);
void otelbridge_py_detach(void);
"""
_EXTRA_SOURCE = """
#include <pthread.h>
#include <time.h>
static void otelbridge_py_observe(otel_observer *, void *);
static int otelbridge_py_detached = 0;
static int otelbridge_py_inside = 0;
static _Thread_local int otelbridge_py_inside_here = 0; /* this thread's part of _inside */
static void otelbridge_py_after_fork_child(void) {
  __atomic_store_n(&otelbridge_py_inside, otelbridge_py_inside_here, __ATOMIC_SEQ_CST);
}
__attribute__((constructor)) static void otelbridge_py_at_load(void) {
  (void)pthread_atfork(NULL, NULL, otelbridge_py_after_fork_child);
}
static void otelbridge_py_detach(void) {
  int i;
  __atomic_store_n(&otelbridge_py_detached, 1, __ATOMIC_SEQ_CST);
  for (i = 0; i < 2000 && __atomic_load_n(&otelbridge_py_inside, __ATOMIC_SEQ_CST) > 0; i++) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
}
static void otelbridge_observe_trampoline(otel_observer *observer, void *user_data) {
  otelbridge_py_inside_here++;
  __atomic_add_fetch(&otelbridge_py_inside, 1, __ATOMIC_SEQ_CST);
  if (!__atomic_load_n(&otelbridge_py_detached, __ATOMIC_SEQ_CST) && Py_IsInitialized())
    otelbridge_py_observe(observer, user_data);
  __atomic_sub_fetch(&otelbridge_py_inside, 1, __ATOMIC_SEQ_CST);
  otelbridge_py_inside_here--;
}
"""

_loc = locate()
ffibuilder = FFI()
ffibuilder.cdef(read_cdef(_loc.header()) + _EXTRA_CDEF)
_rpath = (["$ORIGIN"] if _loc.bundle else
          [d for d in _loc.library_dirs if os.path.normpath(d) not in SYSTEM_LIBDIRS])
ffibuilder.set_source(
    "otelbridge._native",
    "#include <otelbridge/otelbridge.h>\n" + _EXTRA_SOURCE,
    include_dirs=_loc.include_dirs,
    library_dirs=_loc.library_dirs,
    libraries=["otelbridge"],
    extra_compile_args=_loc.extra_compile_args,
    extra_link_args=[f"-Wl,-rpath,{d}" for d in _rpath],
)



def speedups_extension(loc: _Location = _loc) -> "object":
    """The setuptools Extension for otelbridge._speedups (the hot paths in C, _speedups.c),
    linked to the same library as the cffi module, with the same rpath."""
    from setuptools import Extension

    return Extension(
        "otelbridge._speedups", [str((HERE / "otelbridge" / "_speedups.c").relative_to(HERE))
                                 if Path.cwd() == HERE else str(HERE / "otelbridge" / "_speedups.c")],
        include_dirs=loc.include_dirs, library_dirs=loc.library_dirs, libraries=["otelbridge"],
        extra_compile_args=[*loc.extra_compile_args, "-std=c11", "-Wall", "-Wextra"],
        extra_link_args=[f"-Wl,-rpath,{d}" for d in _rpath])


def build_speedups(out_dir: str, tmp_dir: str) -> None:
    """Compiles otelbridge._speedups into out_dir/otelbridge (as setup.py's build_ext does)."""
    from setuptools import setup

    setup(name="otelbridge-speedups", ext_modules=[speedups_extension()],  # type: ignore[list-item]
          script_args=["-q", "build_ext", "--build-lib", out_dir, "--build-temp", tmp_dir])


if __name__ == "__main__":
    print(f"building against {_loc.origin}: include {_loc.include_dirs}, lib {_loc.library_dirs}")
    ffibuilder.compile(verbose=True)
