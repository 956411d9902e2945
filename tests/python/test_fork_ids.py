"""A forked child must never generate the ids its parent generates (DESIGN: ids are reseeded in
the child). Parent and child each start spans right after fork(); without the reseed the child's
generator state is a copy of the parent's and the ids would be identical."""
import os

import otb


def test_parent_and_child_generate_different_ids(engine_factory):
    e = engine_factory(config={"OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"})
    scope = e.scope("fork.ids")
    lib = e.lib
    st, warm = lib.span_start(scope, "before fork")  # the parent's generator is in use
    assert st == otb.OTEL_OK

    def ids(n):
        out = []
        for _ in range(n):
            st, h = lib.span_start(scope, "x")
            assert st == otb.OTEL_OK
            st, ctx = lib.span_context_get(h)
            out.append(ctx["trace_id"] + ctx["span_id"])
            lib.span_end(h, 0)
        return out

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.write(w, b"".join(ids(20)))
        finally:
            os._exit(0)
    os.close(w)
    parent = ids(20)
    child_bytes = b""
    while chunk := os.read(r, 65536):
        child_bytes += chunk
    os.close(r)
    os.waitpid(pid, 0)
    child = [child_bytes[i:i + 24] for i in range(0, len(child_bytes), 24)]
    assert len(child) == 20
    assert not set(parent) & set(child), "parent and child generated the same ids after fork"
