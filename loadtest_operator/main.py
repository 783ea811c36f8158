"""`llmload-operator`: settings, store, metrics and the kopf run loop."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from loadtest_operator.core.fetches import FetchPolicy, networks
from loadtest_operator.handlers import admission, capacity, loadtest
from loadtest_operator.handlers.common import RESTING, register_sweep
from loadtest_operator.io.access import AccessReviewer
from loadtest_operator.io.addresses import api_server_addresses
from loadtest_operator.io.kube import KUBE_THREADS, Kube, load_client_config
from loadtest_operator.io.metrics import OperatorMetrics
from loadtest_operator.io.store import Store, StoreUnavailableError
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.resting import Resting
from loadtest_operator.reconcile.settings import OperatorSettings

# How long a stopping operator may take before it is killed (then the Deployment restarts it).
EXIT_TIMEOUT_SECONDS = 30.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="llmload-operator",
        description="Kubernetes operator for LoadTest and CapacityRecommendation resources. "
        "Settings come from LLMLOAD_* environment variables (see docs/operations.md).",
    )
    parser.add_argument("--version", action="version", version="llmload-operator 0.1.0")
    parser.parse_args(argv)
    return argparse.Namespace()


def open_store(settings: OperatorSettings, log: logging.Logger) -> Store:
    """The SQL store, migrated if it can be now. A database that cannot be reached is no reason not to
    run: results wait in status and the result ConfigMaps, and the first store call after the back-off
    migrates and writes."""
    store = Store.open(settings.effective_database_url, timeout=settings.store_timeout_seconds)
    log.info("SQL store: %s", store.engine.url.render_as_string(hide_password=True))
    if settings.history_ephemeral:
        log.warning(
            "the run history is EPHEMERAL: %s is on a volume that is deleted with this pod "
            "(the chart's persistence.enabled=false); finished LoadTests still in the cluster are written "
            "again after a restart, deleted ones are lost. Keep it with persistence.enabled=true or a "
            "PostgreSQL database.url",
            settings.sqlite_path,
        )
    try:
        store.migrate()
    except StoreUnavailableError as exc:
        log.warning("SQL store not reachable at start-up (%s); migrated and written once it is", exc)
    return store


def fetch_policy(settings: OperatorSettings, api_host: str, log: logging.Logger) -> FetchPolicy:
    """The refused ranges of the settings plus the API server's own addresses."""
    own = api_server_addresses(api_host)
    log.info(
        "the operator never fetches from %s", ", ".join([*settings.refused_fetch_ranges, *own]) or "nothing"
    )
    return FetchPolicy(
        refused=networks(settings.refused_fetch_ranges),
        api_server=networks(own),
        prometheus_url=settings.prometheus_url,
        allowed_prometheus_urls=tuple(settings.allowed_prometheus_urls),
    )


def build_context(settings: OperatorSettings, log: logging.Logger) -> Context:
    store = open_store(settings, log)
    api_client = load_client_config()
    return Context(
        kube=Kube(api_client),
        settings=settings,
        metrics=OperatorMetrics(),
        store=store,
        log=log,
        reviewer=AccessReviewer(api_client) if settings.webhook_port else None,
        fetches=fetch_policy(settings, str(api_client.configuration.host or ""), log),
    )


def webhook_server(settings: OperatorSettings) -> kopf.WebhookServer:
    """kopf's webhook server on the chart's certificate (a Secret, from Helm or cert-manager)."""
    return kopf.WebhookServer(
        addr=settings.webhook_address,
        port=settings.webhook_port,
        certfile=str(settings.webhook_cert_file) if settings.webhook_cert_file else None,
        pkeyfile=str(settings.webhook_key_file) if settings.webhook_key_file else None,
    )


def main(argv: list[str] | None = None) -> None:
    parse_args(argv)
    settings = OperatorSettings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kopf logs every timer tick at INFO; our own reconciler logs what matters.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    log = logging.getLogger("llmload.operator")
    ctx = build_context(settings, log)
    if settings.metrics_port:
        ctx.metrics.serve(settings.metrics_port)
    registry = kopf.OperatorRegistry()
    loadtest.register(registry, settings.reconcile_interval_seconds)
    capacity.register(registry, settings.reconcile_interval_seconds)
    register_sweep(registry, settings.reconcile_interval_seconds)
    if settings.webhook_port:
        admission.register(registry)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A private registry does not get kopf's default login handlers; the official client's
        # credential loading (in-cluster token or kubeconfig) is the one we want.
        info: kopf.ConnectionInfo | None = kopf.login_via_client(**kwargs)
        return info

    @kopf.on.startup(registry=registry)
    async def threads(**_: Any) -> None:
        # The Kubernetes client is synchronous: its calls run on the loop's default executor, by default
        # min(32, cores + 4) threads, 6 on two cores, which a burst of starting LoadTests queues behind.
        executor = ThreadPoolExecutor(max_workers=KUBE_THREADS, thread_name_prefix="llmload-kube")
        asyncio.get_running_loop().set_default_executor(executor)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Timers tick every few seconds: per-tick success events would drown the ones we post.
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        settings.persistence.finalizer = "llmload.io/finalizer"
        # When kopf stops on a fatal error of its own (e.g. a restarted API server answering 404 to a watch
        # before it serves the CRDs again), its timers are gone: exit soon so the Deployment restarts the
        # operator, rather than after kopf's default 10 minutes of a process that reconciles nothing.
        settings.process.ultimate_exiting_timeout = EXIT_TIMEOUT_SECONDS
        if ctx.settings.webhook_port:
            settings.admission.server = webhook_server(ctx.settings)

    health = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
    try:
        asyncio.run(
            kopf.operator(
                registry=registry,
                memo=kopf.Memo(ctx=ctx, **{RESTING: Resting()}),
                standalone=True,
                clusterwide=not settings.namespaces,
                namespaces=settings.namespaces,
                liveness_endpoint=health,
            )
        )
    finally:
        if ctx.store is not None:
            ctx.store.close()


if __name__ == "__main__":
    main()
