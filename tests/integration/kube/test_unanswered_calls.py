"""Every operator call to the API server is bounded (io/kube.py REQUEST_TIMEOUT): a server that accepts
the connection and never answers, or one that is not there, gives a KubeError that says so, and the
client thread is free again. Before, such a call held its thread for good; with all 32 held, the operator
stopped reconciling (issue 20, seen at first start among 4,000 objects)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from kubernetes import client

from loadtest_operator.io import kube
from loadtest_operator.io.kube import Kube, KubeError

pytestmark = pytest.mark.integration


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback server that accepts connections, reads the requests and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)  # kept open, never written to

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def closed_port() -> str:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def kube_at(url: str) -> Kube:
    configuration = client.Configuration()
    configuration.host = url
    configuration.retries = 0
    return Kube(client.ApiClient(configuration))


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kube, "REQUEST_TIMEOUT", (1.0, 0.5))


CALLS = {
    "read": lambda k: k.configmap("team-a", "x"),
    "list": lambda k: k.jobs("team-a", "app=x"),
    "create": lambda k: k.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "team-a"}}
    ),
    "patch status": lambda k: k.patch_custom_status("loadtests", "team-a", "x", {"phase": "Running"}, "1"),
    "delete": lambda k: k.delete("team-a", "Job", "x"),
}


@pytest.mark.parametrize("call", CALLS, ids=list(CALLS))
def test_a_call_the_server_never_answers_ends_in_a_kube_error(silent_server: str, call: str) -> None:
    with pytest.raises(KubeError, match=r"no answer from the API server .*ReadTimeoutError") as caught:
        asyncio.run(asyncio.wait_for(CALLS[call](kube_at(silent_server)), 30))
    assert caught.value.status == 0
    assert "0.5 s for the answer" in str(caught.value)


def test_a_server_that_is_not_there_ends_in_a_kube_error() -> None:
    with pytest.raises(
        KubeError, match=r"no answer from the API server .*(Connection refused|MaxRetryError)"
    ):
        asyncio.run(asyncio.wait_for(kube_at(closed_port()).configmap("team-a", "x"), 30))


def test_a_pod_log_is_a_courtesy_an_unanswered_read_gives_none(silent_server: str) -> None:
    assert asyncio.run(asyncio.wait_for(kube_at(silent_server).pod_log_tail("team-a", "p"), 30)) == ""
