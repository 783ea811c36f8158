"""`llmload-results`: the results service (uvicorn). Settings from the environment, like the operator's:

DATABASE_URL / LLMLOAD_DATABASE_URL   the store (PostgreSQL); unset = SQLite at LLMLOAD_SQLITE_PATH
LLMLOAD_RESULTS_PORT                   port to listen on (8080)
LLMLOAD_RESULTS_TOKEN_AUDIENCES        audiences a TokenReview asks for (comma-separated; default: the
                                       API server's)
LLMLOAD_LOG_LEVEL                      INFO
"""

from __future__ import annotations

import logging
import os
import sys

import uvicorn
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings

from loadtest_operator.io.access import AccessReviewer
from loadtest_operator.io.identity import TokenReviewer
from loadtest_operator.io.kube import load_client_config
from loadtest_operator.io.store import create_store_engine
from loadtest_operator.results.app import Service, create_app
from loadtest_operator.results.authz import Authorizer


class ResultsSettings(BaseSettings):
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("LLMLOAD_DATABASE_URL", "DATABASE_URL")
    )
    sqlite_path: str = Field("llmload.db", validation_alias="LLMLOAD_SQLITE_PATH")
    port: int = Field(8080, ge=1, le=65535, validation_alias="LLMLOAD_RESULTS_PORT")
    host: str = Field("0.0.0.0", validation_alias="LLMLOAD_RESULTS_HOST")
    token_audiences: str = Field("", validation_alias="LLMLOAD_RESULTS_TOKEN_AUDIENCES")
    log_level: str = Field("INFO", validation_alias="LLMLOAD_LOG_LEVEL")


def main() -> int:
    settings = ResultsSettings()
    # One JSON object per access-log line (the message is already JSON); everything else is plain text.
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stdout, format="%(message)s")
    # Alembic says "Context impl ..." on every schema check (each /readyz): only its warnings.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request at INFO (a live stream reads the API server every 2 s); ours say enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    api = load_client_config()
    audiences = tuple(a for a in settings.token_audiences.split(",") if a)
    authz = Authorizer(TokenReviewer(api, audiences), AccessReviewer(api))
    engine = create_store_engine(settings.database_url or settings.sqlite_path)
    app = create_app(Service(engine=engine, authz=authz))
    # uvicorn's own access log would repeat each request without the user or the request id.
    uvicorn.run(
        app, host=settings.host, port=settings.port, access_log=False, log_config=None, proxy_headers=False
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
