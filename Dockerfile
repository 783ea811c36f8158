# Two images from one file:
#   product      (the default, last stage): what users run; the operator and the load generator, the
#                console scripts of one Python package. No test servers in it.
#   mockservers  the product plus the test servers (mockservers/, its own distribution, console script
#                `llmload-mock`): the mock vLLM server and the DCGM stand-in of the demo and the e2e tests.
#   buildah bud --target product -t llmload .      buildah bud --target mockservers -t llmload-mock .
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE} AS product

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies first, in their own layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml /src/pyproject.toml
RUN python3 -m venv /opt/llmload \
 && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml','rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && /opt/llmload/bin/pip install -q -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY README.md /src/README.md
COPY loadgen /src/loadgen
COPY loadtest_operator /src/loadtest_operator
RUN /opt/llmload/bin/pip install -q --no-deps /src && rm -rf /src

# kopf names itself with getpass.getuser(): the UID needs an /etc/passwd entry.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin llmload
USER 10001:10001
ENV PATH=/opt/llmload/bin:$PATH HOME=/tmp
WORKDIR /tmp
ENTRYPOINT []
CMD ["loadgen", "--help"]

FROM product AS mockservers
USER 0:0
COPY mockservers /src/mockservers
# --no-deps: its dependencies (llmload, aiohttp) are the product's, installed above.
RUN /opt/llmload/bin/pip install -q --no-deps /src/mockservers && rm -rf /src
USER 10001:10001
CMD ["llmload-mock", "--help"]

# A build without --target gets the product. (The CMD gives the stage an instruction: buildah leaves a
# working container behind after a stage that is a bare FROM.)
FROM product
CMD ["loadgen", "--help"]
