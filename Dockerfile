# The image users run: the operator, the load generator and the mock OpenAI
# server are console scripts of one Python package.
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

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
