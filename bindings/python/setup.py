"""Builds otelbridge._native, the cffi extension (out-of-line API mode) over libotelbridge.

Everything else is in pyproject.toml; see otelbridge_build.py for how the library is found.
"""

from setuptools import setup

setup(cffi_modules=["otelbridge_build.py:ffibuilder"])
