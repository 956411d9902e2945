"""otelbridge-diagnose, the troubleshooting command installed with the library, against the real
receiver: it prints the resolved configuration with sources and masked secrets, tries an empty
export per endpoint, and says in plain words what failed."""
import os
import socket
import subprocess
from pathlib import Path

import pytest

import collector

BUILD = Path(os.environ.get("OTELBRIDGE_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
TOOL = BUILD / "tools" / "otelbridge-diagnose"


def run(env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELBRIDGE_"))}
    env.update(env_extra)
    env["LD_LIBRARY_PATH"] = str(BUILD / "src")
    p = subprocess.run([str(TOOL)], capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, p.stdout + p.stderr


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def rx(tmp_path_factory):
    c = collector.start(tmp_path_factory.mktemp("rx"))
    yield c
    c.stop()


def test_reachable_over_http_and_grpc_with_masked_secret(rx):
    for proto, endpoint in [("http/protobuf", f"http://{rx.http}"), ("http/json", f"http://{rx.http}"),
                            ("grpc", f"http://{rx.grpc}")]:
        code, out = run({"OTEL_EXPORTER_OTLP_PROTOCOL": proto, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                         "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20s3cr3t-token"})
        assert code == 0, out
        assert out.count("OK   the receiver accepted an empty export") == 3, out  # logs, traces, metrics
        assert "s3cr3t-token" not in out, "a header value was printed"
        assert "authorization=***" in out
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in out and "[environment]" in out
        assert "OTEL_BLRP_MAX_QUEUE_SIZE" in out and "[default]" in out


def test_connection_refused_is_named():
    code, out = run({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
                     "OTEL_EXPORTER_OTLP_TIMEOUT": "2000"})
    assert code == 1
    assert "FAIL connection refused" in out, out


def test_wrong_path_is_named(rx):
    code, out = run({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": f"http://{rx.http}/wrong/path",
                     "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"})
    assert code == 1
    assert "404" in out and "wrong URL path" in out, out


def test_values_from_code_and_bad_environment(rx):
    code, out = run({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{rx.http}", "OTEL_BSP_MAX_QUEUE_SIZE": "lots"})
    assert code == 0, out
    assert "ignoring OTEL_BSP_MAX_QUEUE_SIZE" in out, "a bad environment value is reported"
