# The cffi extension built by otelbridge_build.py from the header's OTEL_CDEF section.
from typing import Any

ffi: Any
lib: Any
