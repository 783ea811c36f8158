"""How `llmload history|compare|export|leaderboard|purge` reach the results service: over HTTP (httpx),
with the caller's own bearer token (from --token, or the kubeconfig's current user), either at a URL
given or through a `kubectl port-forward` to the service that this module opens and closes itself.

The API server's service proxy is no route for it: the API server does not pass the caller's bearer
token on to the service, so the service could not tell who is asking."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

DEFAULT_SERVICE = "llmload-results"
DEFAULT_NAMESPACE = "llmload-system"
SERVICE_PORT = 8080
PORT_FORWARD_WAIT_SECONDS = 20.0
_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+)")


class ResultsError(RuntimeError):
    """The service said no, or could not be reached; the message is the service's own words."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def kubeconfig_token(context: str | None = None) -> str | None:
    """The bearer token the kubeconfig's user authenticates with (a token, a token file or an exec
    plugin's), or None when it uses client certificates (the service cannot review those)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        config.load_kube_config(context=context, client_configuration=configuration)
    except config.ConfigException as exc:
        raise ResultsError(f"cannot read your kubeconfig: {exc}") from exc
    value = (configuration.api_key or {}).get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def live_loadtest(name: str, namespace: str, context: str | None = None) -> dict[str, Any] | None:
    """The LoadTest through the kubeconfig, or None when the API server says it does not exist or there is
    no kubeconfig to ask with (for `llmload show`, which then asks the results service for the stored
    run)."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    from loadtest_operator.api.group import GROUP, PLURAL, VERSION
    from loadtest_operator.io.kube import REQUEST_TIMEOUT

    try:
        api = client.CustomObjectsApi(config.new_client_from_config(context=context))
    except config.ConfigException:
        return None
    try:
        body: dict[str, Any] = api.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise ResultsError(
            f"cannot read LoadTest {namespace}/{name}: HTTP {exc.status} {exc.reason}"
        ) from exc
    finally:
        api.api_client.close()
    return body


@contextlib.contextmanager
def port_forward(namespace: str, service: str, *, context: str | None = None) -> Iterator[str]:
    """`kubectl port-forward svc/SERVICE :8080` on a free local port; yields its base URL."""
    command = ["kubectl", "port-forward", "-n", namespace, f"svc/{service}", f":{SERVICE_PORT}"]
    if context:
        command[1:1] = ["--context", context]
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError as exc:
        raise ResultsError("kubectl is not on PATH: install it, or give the service's --url") from exc
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = _FORWARDING.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(PORT_FORWARD_WAIT_SECONDS) or not found:
            error = ""
            if proc.poll() is not None and proc.stderr is not None:
                error = proc.stderr.read().strip()
            raise ResultsError(
                f"kubectl port-forward to svc/{service} in namespace {namespace} did not start"
                + (f": {error}" if error else f" within {PORT_FORWARD_WAIT_SECONDS:g}s")
                + " (--results-namespace and --service say where the service is; --url skips the forward)"
            )
        yield f"http://127.0.0.1:{found[0]}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


class ResultsClient:
    def __init__(
        self, base_url: str, token: str | None, *, timeout: float = 60.0, verify: bool | str = True
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, verify=verify
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        with _progress(f"{method} {path}"):
            try:
                response = self.http.request(method, path, params=query)
            except httpx.HTTPError as exc:
                raise ResultsError(
                    f"cannot reach the results service at {self.http.base_url}: {exc}"
                ) from exc
        if response.status_code >= 400:
            raise ResultsError(_detail(response), response.status_code)
        return response

    def json(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request(method, path, params).json()


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    text = detail if isinstance(detail, str) else response.text[:500]
    return f"HTTP {response.status_code}: {text}"


@contextlib.contextmanager
def _progress(what: str, after: float = 1.0) -> Iterator[None]:
    """A 'waiting' line on a terminal's stderr when a call takes longer than `after` seconds."""
    if not sys.stderr.isatty():
        yield
        return
    done = threading.Event()

    def spin() -> None:
        if done.wait(after):
            return
        frames, i = "|/-\\", 0
        while not done.wait(0.2):
            sys.stderr.write(f"\r{frames[i % 4]} waiting for the results service ({what})")
            sys.stderr.flush()
            i += 1
        sys.stderr.write("\r\033[K")

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(1)


@contextlib.contextmanager
def open_client(
    url: str | None,
    token: str | None,
    *,
    context: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    service: str = DEFAULT_SERVICE,
    verify: bool = True,
) -> Iterator[ResultsClient]:
    """A client of the service at `url`, else through a port-forward to svc/SERVICE in `namespace`, with
    `token` or the kubeconfig's (for `llmload report --stored`; results_cli.py's _client does the same)."""
    token = token or kubeconfig_token(context)
    if not token:
        raise ResultsError(
            "no bearer token: your kubeconfig's user has none (client certificates cannot be reviewed by "
            "the service); pass --token $(kubectl create token NAME) or set LLMLOAD_TOKEN"
        )
    with contextlib.ExitStack() as stack:
        base = url or stack.enter_context(port_forward(namespace, service, context=context))
        client = ResultsClient(base, token, verify=verify if url else True)
        stack.callback(client.close)
        yield client


@contextlib.contextmanager
def stream_lines(
    client: ResultsClient, path: str, params: Mapping[str, Any] | None = None, *, read_seconds: float = 200.0
) -> Iterator[Iterator[str]]:
    """The lines of a streamed answer (server-sent events), each read within `read_seconds`."""
    query = {k: v for k, v in (params or {}).items() if v is not None}
    timeout = httpx.Timeout(client.http.timeout.connect, read=read_seconds)
    try:
        with client.http.stream("GET", path, params=query, timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise ResultsError(_detail(response), response.status_code)

            def lines() -> Iterator[str]:
                try:
                    yield from response.iter_lines()
                except httpx.HTTPError as exc:
                    raise ResultsError(f"the results service broke off the stream: {exc}") from exc

            yield lines()
    except httpx.HTTPError as exc:
        raise ResultsError(f"cannot reach the results service at {client.http.base_url}: {exc}") from exc
