# The image every tinymlops KFP component runs in on the cluster
# (components/runtime.py names it). Build from the repository root (make images
# does this, choosing the engine and the base):
#   docker build -f manifests/runtime.Dockerfile -t ghcr.io/tinymlops/runtime:0.1.0 \
#     [--build-arg BASE_IMAGE=localhost/tinymlops/base:bookworm-py3.11] \
#     [--secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt] .
# Debian 12 (glibc 2.36) + Python 3.11: the platform the pinned set was checked on.
# Layers go from slow and stable to fast and changing: a code change reinstalls only the package.
# Security scanners (checkov, tests/test_scanners.py): findings that do not apply, with the reason.
# checkov:skip=CKV_DOCKER_7: FROM names the build argument BASE_IMAGE, whose default is tagged (python:3.11-slim-bookworm); make images passes a tagged base, never latest
# checkov:skip=CKV_DOCKER_2: no HEALTHCHECK: its containers are KFP component tasks, the drift monitor's CronJob and the setup Job, each running one batch task to completion; Kubernetes ignores HEALTHCHECK anyway
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="tinymlops runtime" \
      org.opencontainers.image.description="tinymlops and its pinned dependencies (TensorFlow, TFDV, Evidently, KFP, TFLM): the image of every tinymlops KFP component" \
      org.opencontainers.image.source="https://github.com/tinymlops/tinymlops"

# A venv: Debian's system Python is externally managed (PEP 668), the python image's is not; this works on both.
RUN python3 -m venv /opt/venv \
 && groupadd -g 10001 tinymlops \
 && useradd -u 10001 -g 10001 -m -d /home/tinymlops -s /bin/bash tinymlops
ENV PATH=/opt/venv/bin:$PATH \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLCONFIGDIR=/tmp/matplotlib \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/tinymlops

# Dependencies only: this layer is rebuilt when pyproject.toml or constraints.txt change, not the code.
# The CA bundle (an intercepting proxy's) comes as a build secret, so it is never stored in a layer.
# A compiler for the few sdists (pyfarmhash has no wheel), removed in the same layer; wheel first, so
# they are built as wheels the pip cache keeps, and so the editable install below needs no network.
COPY pyproject.toml constraints.txt ./
RUN --mount=type=secret,id=ca-bundle --mount=type=cache,target=/root/.cache/pip \
    if [ -f /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
 && headers=$(python3 -c "import os, sysconfig; print('' if os.path.exists(sysconfig.get_path('include') + '/Python.h') else 'python3-dev')") \
 && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends g++ $headers \
 && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" >/tmp/req.txt \
 && pip install wheel==0.45.1 \
 && pip install --only-binary=pyarrow,numpy,pandas,tensorflow,apache-beam -c constraints.txt -r /tmp/req.txt \
 && pip check \
 && apt-get purge -y --auto-remove g++ $headers \
 && apt-get clean && rm -rf /tmp/req.txt /var/lib/apt/lists/*

# The code. Editable, as in the builder image, so paths relative to components/ resolve alike.
COPY README.md ./
COPY components components
COPY pipelines pipelines
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e . \
 && tinymlops --help >/dev/null

USER 10001:10001
WORKDIR /home/tinymlops
