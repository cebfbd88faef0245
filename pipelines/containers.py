"""`--runner container`: every task of a local run in its component's image, through the Docker Engine API.

kfp 2.13's DockerRunner starts each task with `docker.from_env()` (Docker Engine, or podman's API socket) but
mounts only the pipeline root and takes no other options. Later kfp releases add `container_run_args`; until
then `task_containers` puts our launcher in place of kfp's for the length of one run, so that tasks get:

- the store: a local folder is bind-mounted at the same absolute path, as kfp mounts the pipeline root; a
  minio:// store is reached over the host's network (network_mode=host), so `minio://127.0.0.1:9000` names
  the same server inside a container as outside;
- credentials as files: MINIO_ACCESS_KEY and MINIO_SECRET_KEY are written to a private temporary folder,
  mounted read-only, and named by MINIO_*_FILE, so no secret is in an image or a container's recorded
  environment, and the folder is deleted after the run;
- a user: the caller's uid:gid, so files on the mounts stay theirs; a caller who is root gets the image's
  own non-root user instead, and the mounted folders are handed to that user;
- labels naming the run and the task: the engine's container records say which task ran in which image.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from components.store import LocalStore, Store, credential

ENGINE_SCRIPT = Path(__file__).resolve().parents[1] / "manifests" / "engine.sh"
RUN_LABEL, TASK_LABEL = "io.tinymlops.run", "io.tinymlops.task"
SECRETS_IN_CONTAINER = "/run/secrets/tinymlops"
PASSED_ENV = ("MINIO_SECURE", "MINIO_REGION")  # store settings that are not secret
LOG_TAIL_LINES = 30


class ContainerError(RuntimeError):
    """The container runner cannot start: says what is missing and what to run."""


@dataclass
class TaskContainer:
    task: str  # the component's function, e.g. "train"
    image: str
    container_id: str
    exit_code: int
    log_tail: str = ""  # the end of the task's log, when it failed


@dataclass
class ContainerRun:
    """One pipeline run's containers: how they are started, and what became of each."""

    client: object  # docker.DockerClient
    run_id: str
    volumes: dict
    environment: dict
    users: dict[str, str]  # image -> the user its tasks run as
    tasks: list[TaskContainer] = field(default_factory=list)

    def launch(self, client, image: str, command: list[str], volumes: dict) -> int:
        """Stands in for kfp.local.docker_task_handler.run_docker_container (same arguments and result)."""
        task = _function_name(command)
        container = self.client.containers.run(
            image=image, command=command, detach=True, volumes={**volumes, **self.volumes},
            environment=self.environment, user=self.users[image], network_mode="host",
            labels={RUN_LABEL: self.run_id, TASK_LABEL: task})
        for line in container.logs(stream=True):
            print(line.decode(errors="replace"), end="")
        exit_code = container.wait()["StatusCode"]
        tail = container.logs(tail=LOG_TAIL_LINES).decode(errors="replace") if exit_code else ""
        self.tasks.append(TaskContainer(task, image, container.id[:12], exit_code, tail))
        return exit_code


def engine_client():
    """A Docker Engine API client: $DOCKER_HOST or Docker's socket if one answers, else podman's socket,
    started by manifests/engine.sh. Sets DOCKER_HOST, which kfp's task handler reads."""
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
        return client
    except Exception as exc:  # docker raises DockerException, requests' errors or OSError
        first_error = exc
    if ENGINE_SCRIPT.is_file():
        done = subprocess.run(["bash", str(ENGINE_SCRIPT), "socket"], capture_output=True, text=True, timeout=900)
        if done.returncode == 0 and done.stdout.strip():
            os.environ["DOCKER_HOST"] = done.stdout.strip()
            client = docker.from_env(timeout=30)
            client.ping()
            return client
        first_error = done.stderr.strip() or first_error
    raise ContainerError(f"no container engine answers (Docker Engine API at $DOCKER_HOST or "
                         f"/var/run/docker.sock): {first_error}. Start Docker, or run `make container-engine` "
                         f"to set up podman and its API socket, then `make images`")


def pipeline_images(pipeline) -> set[str]:
    """Every image a compiled pipeline's tasks run in."""
    from google.protobuf import json_format

    executors = json_format.MessageToDict(pipeline.pipeline_spec.deployment_spec)["executors"]
    return {e["container"]["image"] for e in executors.values()}


def image_user(client, image: str) -> str:
    """The user `image` runs as; fails with what to run when the engine does not have it."""
    import docker

    try:
        user = client.images.get(image).attrs["Config"].get("User") or "0"
    except docker.errors.ImageNotFound:
        raise ContainerError(f"image {image} is not in the container engine: build it with `make images`") from None
    return user


@contextmanager
def task_containers(store: Store, images: set[str], pipeline_root: Path, store_image: str) -> Iterator[ContainerRun]:
    """Run kfp.local's DockerRunner tasks as described above while the block runs. `store_image` is one whose
    tasks use the store (the runtime image): a probe in it checks a minio:// store is reachable first."""
    from kfp.local import docker_task_handler

    client = engine_client()
    own_users = {image: image_user(client, image) for image in sorted(images)}
    caller_is_root = os.getuid() == 0
    users = own_users if caller_is_root else dict.fromkeys(images, f"{os.getuid()}:{os.getgid()}")
    volumes: dict = {}
    shared = [pipeline_root]
    if isinstance(store, LocalStore):
        store.root.mkdir(parents=True, exist_ok=True)
        volumes[str(store.root)] = {"bind": str(store.root), "mode": "rw"}
        shared.append(store.root)
    with tempfile.TemporaryDirectory(prefix="tinymlops-secrets-") as secrets:
        environment = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
        environment.update(_credential_files(Path(secrets)))
        if not caller_is_root:  # the image's home belongs to its own user, not to the caller's uid
            environment["HOME"] = "/tmp"
        volumes[secrets] = {"bind": SECRETS_IN_CONTAINER, "mode": "ro"}
        if caller_is_root:  # the tasks run as the image's user: it must write the mounts and read the secrets
            uid, _, gid = next(iter(own_users.values())).partition(":")
            for folder in [*shared, Path(secrets)]:
                _hand_over(folder, int(uid), int(gid or uid))
        run = ContainerRun(client, uuid.uuid4().hex[:12], volumes, environment, users)
        if not isinstance(store, LocalStore):
            _check_store_reachable(run, store, store_image)
        previous = docker_task_handler.run_docker_container
        docker_task_handler.run_docker_container = run.launch
        try:
            yield run
        finally:
            docker_task_handler.run_docker_container = previous


def _credential_files(folder: Path) -> dict[str, str]:
    environment = {}
    for name in ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
        value = credential(name)
        if value:
            path = folder / name.lower()
            path.write_text(value, encoding="utf-8")
            path.chmod(0o400)
            environment[f"{name}_FILE"] = f"{SECRETS_IN_CONTAINER}/{path.name}"
    return environment


def _hand_over(folder: Path, uid: int, gid: int) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, uid, gid, follow_symlinks=False)


_STORE_PROBE = ("import sys\nfrom components.config import StoreConfig\nfrom components.store import open_store\n"
                "open_store(sys.argv[1], StoreConfig(retry_budget_s=2)).exists('datasets/.reachable')")


def _check_store_reachable(run: ContainerRun, store: Store, image: str) -> None:
    """Fail before any task starts when the tasks' network cannot reach the store."""
    container = run.client.containers.run(
        image=image, command=["python3", "-c", _STORE_PROBE, store.url], detach=True, volumes=run.volumes,
        environment=run.environment, user=run.users[image], network_mode="host",
        labels={RUN_LABEL: run.run_id, TASK_LABEL: "store-probe"})
    try:
        exit_code = container.wait()["StatusCode"]
        last = container.logs(tail=3).decode(errors="replace").strip().splitlines() or ["no output"]
    finally:
        container.remove(force=True)
    if exit_code:
        raise ContainerError(
            f"the store {store.url} is not reachable from inside a container of {image} (host network): "
            f"{last[-1]}. Use an address of this machine that the server listens on (127.0.0.1 works: tasks "
            f"share the host's network) and check MINIO_ACCESS_KEY/MINIO_SECRET_KEY")


def _function_name(command: list[str]) -> str:
    """The component's function, from the executor's arguments (`--function_to_execute NAME`)."""
    if "--function_to_execute" in command:
        return command[command.index("--function_to_execute") + 1]
    return "task"
