"""The operator's Kubernetes I/O: a thin async facade over the official client.

Everything goes in and out as plain dicts exactly as the API server speaks them (camelCase), so the pure
builders and analysis never see client model classes. Calls run in a thread (the client is synchronous).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from loadtest_operator.api.capacity import CAPACITY_PLURAL
from loadtest_operator.api.group import GROUP, KIND, PLURAL, VERSION

JsonDict = dict[str, Any]
# Threads (the event loop's default executor, set by main.py) and HTTP connections for the client's
# calls: LoadTests applied at once start concurrently, each tick a chain of calls (docs/scale.md).
KUBE_THREADS = 32
# Every call is bounded, (connect, read) seconds: an API request the server never answered held its
# thread for good, and once all KUBE_THREADS were held the operator stopped reconciling (issue 20).
REQUEST_TIMEOUT = (5.0, 30.0)
# A timeout, a refused or broken connection: no HTTP answer at all.
Unanswered = urllib3.exceptions.HTTPError


class KubeError(RuntimeError):
    """An API call failed for a reason other than 'not found' or 'already exists', or got no answer."""

    def __init__(self, what: str, exc: ApiException | Unanswered) -> None:
        if isinstance(exc, ApiException):
            self.status = int(exc.status or 0)
            super().__init__(f"{what}: HTTP {self.status} {_api_message(exc)}")
        else:
            self.status = 0
            super().__init__(f"{what}: {unanswered_reason(exc)}")


def unanswered_reason(exc: Unanswered) -> str:
    connect, read = REQUEST_TIMEOUT
    return (
        f"no answer from the API server ({type(exc).__name__}; calls wait {connect:g} s to connect and"
        f" {read:g} s for the answer): {exc}"
    )


async def bounded(what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`call(*args, **kwargs)` in a thread, bounded by REQUEST_TIMEOUT. An API error is raised as the
    client raises it (callers tell 404 and 409 apart); no answer at all raises KubeError(`what`)."""
    try:
        return await asyncio.to_thread(call, *args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
    except Unanswered as exc:
        raise KubeError(what, exc) from exc


def _api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message", exc.reason))
    except (ValueError, AttributeError):
        return str(exc.reason)


def load_client_config() -> client.ApiClient:
    """In-cluster credentials inside a pod, else the local kubeconfig ($KUBECONFIG)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = KUBE_THREADS
    return client.ApiClient(configuration)


def read_loadtest(name: str, namespace: str) -> JsonDict:
    """One LoadTest through the local kubeconfig (for `llmload show`)."""
    config.load_kube_config()
    body: JsonDict = client.CustomObjectsApi().get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT
    )
    return body


def read_capacity_recommendation(name: str, namespace: str) -> JsonDict:
    """One CapacityRecommendation through the local kubeconfig (for `llmload report`)."""
    config.load_kube_config()
    body: JsonDict = client.CustomObjectsApi().get_namespaced_custom_object(
        GROUP, VERSION, namespace, CAPACITY_PLURAL, name, _request_timeout=REQUEST_TIMEOUT
    )
    return body


def read_loadtests(names: list[str], namespace: str) -> tuple[list[JsonDict], dict[str, str]]:
    """LoadTests by name through the local kubeconfig, and why each one not read was not (for
    `llmload report` of a CapacityRecommendation's children: a deleted child leaves the rest)."""
    config.load_kube_config()
    api = client.CustomObjectsApi()
    found: list[JsonDict] = []
    missing: dict[str, str] = {}
    for name in names:
        try:
            found.append(
                api.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT
                )
            )
        except ApiException as exc:
            missing[name] = f"HTTP {exc.status} {_api_message(exc)}"
    return found, missing


class Kube:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.rbac = client.RbacAuthorizationV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    # -- reads --------------------------------------------------------------------------------------
    async def get_object(self, what: str, call: Callable[..., Any], *args: Any) -> JsonDict | None:
        """One object as a dict, or None when it does not exist."""
        try:
            resp = await bounded(f"reading {what}", call, *args, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise KubeError(f"reading {what}", exc) from exc
        result: JsonDict = json.loads(resp.data)
        return result

    async def list_objects(
        self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> list[JsonDict]:
        try:
            resp = await bounded(f"listing {what}", call, *args, _preload_content=False, **kwargs)
        except ApiException as exc:
            raise KubeError(f"listing {what}", exc) from exc
        items: list[JsonDict] = json.loads(resp.data).get("items", [])
        return items

    async def service(self, namespace: str, name: str) -> JsonDict | None:
        return await self.get_object(
            f"service {namespace}/{name}", self.core.read_namespaced_service, name, namespace
        )

    async def pods(self, namespace: str, selector: str) -> list[JsonDict]:
        return await self.list_objects(
            "pods", self.core.list_namespaced_pod, namespace, label_selector=selector
        )

    async def node(self, name: str) -> JsonDict | None:
        return await self.get_object(f"node {name}", self.core.read_node, name)

    async def secret(self, namespace: str, name: str) -> JsonDict | None:
        return await self.get_object(
            f"secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace
        )

    async def configmap(self, namespace: str, name: str) -> JsonDict | None:
        return await self.get_object(
            f"configmap {namespace}/{name}", self.core.read_namespaced_config_map, name, namespace
        )

    async def configmaps(self, namespace: str, selector: str) -> list[JsonDict]:
        return await self.list_objects(
            "configmaps", self.core.list_namespaced_config_map, namespace, label_selector=selector
        )

    async def jobs(self, namespace: str, selector: str) -> list[JsonDict]:
        return await self.list_objects(
            "jobs", self.batch.list_namespaced_job, namespace, label_selector=selector
        )

    async def events(self, namespace: str, kind: str, name: str, limit: int = 20) -> list[JsonDict]:
        """The newest events about one object (bounded: `limit` of them)."""
        return await self.list_objects(
            f"events of {kind} {namespace}/{name}",
            self.core.list_namespaced_event,
            namespace,
            field_selector=f"involvedObject.kind={kind},involvedObject.name={name}",
            limit=limit,
        )

    async def deployment(self, namespace: str, name: str) -> JsonDict | None:
        return await self.get_object(
            f"deployment {namespace}/{name}", self.apps.read_namespaced_deployment, name, namespace
        )

    async def loadtests(self, namespace: str, selector: str) -> list[JsonDict]:
        """LoadTests matching a label selector (a CapacityRecommendation's children)."""
        return await self.list_objects(
            "loadtests",
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            label_selector=selector,
        )

    async def custom_object(self, plural: str, namespace: str, name: str) -> JsonDict | None:
        """One LoadTest or CapacityRecommendation (by plural), or None when it is gone."""
        return await self.get_object(
            f"{plural} {namespace}/{name}",
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
        )

    async def capacity_recommendation(self, namespace: str, name: str) -> JsonDict | None:
        return await self.custom_object(CAPACITY_PLURAL, namespace, name)

    async def namespace(self, name: str) -> JsonDict | None:
        return await self.get_object(f"namespace {name}", self.core.read_namespace, name)

    async def webhook_configuration(self, name: str) -> JsonDict | None:
        """The ValidatingWebhookConfiguration `name` (the chart grants `get` on that one by name)."""
        return await self.get_object(
            f"validatingwebhookconfiguration {name}",
            client.AdmissionregistrationV1Api(self.core.api_client).read_validating_webhook_configuration,
            name,
        )

    async def pod_log_tail(self, namespace: str, pod: str, lines: int = 20) -> str:
        try:
            text: str = await bounded(
                f"reading the log of pod {namespace}/{pod}",
                self.core.read_namespaced_pod_log,
                pod,
                namespace,
                tail_lines=lines,
            )
        except (ApiException, KubeError):
            return ""  # a log is a courtesy in an error message, never a reason to fail
        return text

    # -- writes -------------------------------------------------------------------------------------
    async def create(self, manifest: JsonDict) -> JsonDict | None:
        """Create one object. None when this call created it; the object already there otherwise
        (idempotent retries: the caller decides whether that object is its own)."""
        kind = manifest["kind"]
        ns = manifest["metadata"].get("namespace", "")
        name = manifest["metadata"]["name"]
        creators: dict[str, Callable[..., Any]] = {
            "ConfigMap": self.core.create_namespaced_config_map,
            "ServiceAccount": self.core.create_namespaced_service_account,
            "Job": self.batch.create_namespaced_job,
            "Role": self.rbac.create_namespaced_role,
            "RoleBinding": self.rbac.create_namespaced_role_binding,
            KIND: lambda namespace, body, **kw: self.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, body, **kw
            ),
        }
        readers: dict[str, Callable[..., Any]] = {
            "ConfigMap": self.core.read_namespaced_config_map,
            "ServiceAccount": self.core.read_namespaced_service_account,
            "Job": self.batch.read_namespaced_job,
            "Role": self.rbac.read_namespaced_role,
            "RoleBinding": self.rbac.read_namespaced_role_binding,
            KIND: lambda name, namespace, **kw: self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, **kw
            ),
        }
        try:
            # The answer is not needed: not deserialising it into the client's models saves CPU per create.
            await bounded(
                f"creating {kind} {ns}/{name}", creators[kind], ns, manifest, _preload_content=False
            )
        except ApiException as exc:
            if exc.status != 409:
                raise KubeError(f"creating {kind} {ns}/{name}", exc) from exc
            existing = await self.get_object(f"{kind} {ns}/{name}", readers[kind], name, ns)
            return existing or {}  # deleted in between: nothing of anyone's is there
        return None

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        """Merge-patch the Deployment's scale subresource (CapacityRecommendation with scaleDeployment only):
        the operator's RBAC holds `patch` on deployments/scale, not on deployments, so it can change the
        replicas and nothing of the pod template."""
        try:
            await bounded(
                f"scaling deployment {namespace}/{name}",
                self.apps.patch_namespaced_deployment_scale,
                name,
                namespace,
                {"spec": {"replicas": replicas}},
                _content_type="application/merge-patch+json",
            )
        except ApiException as exc:
            raise KubeError(f"scaling deployment {namespace}/{name}", exc) from exc

    async def patch_config_map_data(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """Merge keys into a ConfigMap's data (only the keys given change); a ConfigMap gone is success."""
        try:
            await bounded(
                f"patching ConfigMap {namespace}/{name}",
                self.core.patch_namespaced_config_map,
                name,
                namespace,
                {"data": data},
                _content_type="application/merge-patch+json",
            )
        except ApiException as exc:
            if exc.status != 404:
                raise KubeError(f"patching ConfigMap {namespace}/{name}", exc) from exc

    async def patch_custom_status(
        self, plural: str, namespace: str, name: str, status: JsonDict, resource_version: str
    ) -> bool:
        """Merge-patch the status of the object as it was at `resource_version`; False when it has changed
        since (409) or is gone (404): the patch was computed from a body that no longer holds."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": status}
        try:
            await bounded(
                f"patching the status of {plural} {namespace}/{name}",
                self.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                body,
                _content_type="application/merge-patch+json",
            )
        except ApiException as exc:
            if exc.status in (404, 409):
                return False
            raise KubeError(f"patching the status of {plural} {namespace}/{name}", exc) from exc
        return True

    async def delete(self, namespace: str, kind: str, name: str) -> None:
        """Delete one child (Job or LoadTest) with its dependents; an object already gone is success."""
        deleters: dict[str, Callable[..., Any]] = {
            "Job": lambda **kw: self.batch.delete_namespaced_job(
                name, namespace, propagation_policy="Background", **kw
            ),
            KIND: lambda **kw: self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, **kw
            ),
        }
        try:
            await bounded(f"deleting {kind} {namespace}/{name}", deleters[kind])
        except ApiException as exc:
            if exc.status != 404:
                raise KubeError(f"deleting {kind} {namespace}/{name}", exc) from exc


def found_or_none(read: Callable[[str, str], JsonDict], name: str, namespace: str) -> JsonDict | None:
    """`read(name, namespace)`, or None when the API server has no such object (for `llmload report`,
    which then reads the stored run)."""
    try:
        return read(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise KubeError(f"reading {name} in namespace {namespace}", exc) from exc
