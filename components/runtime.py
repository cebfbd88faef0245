"""Where the KFP components run on a cluster.

The runtime image has this package and its pinned dependencies installed
(manifests/runtime.Dockerfile); components import the project's code in their
bodies. Locally (kfp.local, SubprocessRunner(use_venv=False)) the image is
ignored and the same code runs in the current virtualenv.
"""

RUNTIME_IMAGE = "ghcr.io/tinymlops/runtime:0.1.0"
# PlatformIO with the pinned platforms and libraries, plus this package (firmware/Dockerfile).
FIRMWARE_BUILDER_IMAGE = "ghcr.io/tinymlops/firmware-builder:0.1.0"
