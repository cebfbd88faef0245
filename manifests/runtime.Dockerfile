# The image every tinymlops KFP component runs in on the cluster
# (components/runtime.py names it). Build from the repository root:
#   docker build -f manifests/runtime.Dockerfile -t ghcr.io/tinymlops/runtime:0.1.0 .
# Debian 12 (glibc 2.36) + Python 3.11: the platform the pinned set was checked on.
FROM python:3.11-slim-bookworm
ENV TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 PIP_NO_CACHE_DIR=1
WORKDIR /opt/tinymlops
COPY pyproject.toml constraints.txt README.md ./
COPY components components
COPY pipelines pipelines
RUN pip install --only-binary=pyarrow,numpy,pandas,tensorflow,apache-beam -c constraints.txt . \
 && pip check
