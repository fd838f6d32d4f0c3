"""The Docker command line, reduced to what building and proving the image needs.

Every call goes through the ``docker`` found on PATH, with a timeout; a failure raises
:class:`DockerError` carrying the command's last lines of output.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

#: AWS's Lambda base image for the runtime the workbook targets.
AWS_BASE_IMAGE = "public.ecr.aws/lambda/python:3.12"


class DockerError(RuntimeError):
    """A docker command failed; the message ends with what it printed last."""


def docker_cli() -> str | None:
    return shutil.which("docker")


def engine_problem() -> str | None:
    """None when a Docker engine answers; otherwise why not, in one line."""
    cli = docker_cli()
    if cli is None:
        return "no docker command on PATH"
    try:
        completed = subprocess.run(  # noqa: S603 (the docker CLI, fixed arguments)
            [cli, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return "docker info did not answer within 30 s"
    if completed.returncode != 0 or not completed.stdout.strip():
        return _tail(completed.stderr or completed.stdout, lines=1) or f"docker info exited {completed.returncode}"
    return None


def docker(*arguments: str, timeout: float = 120, stdin: bytes | None = None) -> str:
    """Run ``docker ARGUMENTS``; its standard output, or :class:`DockerError`."""
    return docker_bytes(*arguments, timeout=timeout, stdin=stdin).decode(errors="replace")


def docker_bytes(*arguments: str, timeout: float = 120, stdin: bytes | None = None) -> bytes:
    """Run ``docker ARGUMENTS``; its standard output as bytes (``docker export``), or :class:`DockerError`."""
    cli = docker_cli()
    if cli is None:
        raise DockerError("no docker command on PATH")
    try:
        completed = subprocess.run(  # noqa: S603 (the docker CLI, arguments from this package and its tests)
            [cli, *arguments], input=stdin, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise DockerError(f"docker {arguments[0]} took longer than {timeout:.0f} s") from None
    if completed.returncode != 0:
        output = (completed.stderr + completed.stdout[-4000:]).decode(errors="replace")
        raise DockerError(f"docker {' '.join(arguments[:2])} failed: {_tail(output)}")
    return completed.stdout


def image_present(name: str) -> bool:
    """Whether the image is in the local store (never pulls)."""
    try:
        docker("image", "inspect", "--format", "{{.Id}}", name, timeout=30)
    except DockerError:
        return False
    return True


def pull(name: str, timeout: float = 600) -> str | None:
    """Pull an image; None when it worked, else why not (no registry reachable, say), in one line."""
    try:
        docker("pull", "--quiet", name, timeout=timeout)
    except DockerError as error:
        return str(error)
    return None


def build_image(context: Path, tag: str, build_args: Mapping[str, str] | None = None,
                dockerfile: str | None = None, timeout: float = 900) -> None:
    """``docker build`` of ``context`` (its .dockerignore applies); ``dockerfile`` text replaces its Dockerfile."""
    arguments = ["build", "--tag", tag]
    for name, value in (build_args or {}).items():
        arguments += ["--build-arg", f"{name}={value}"]
    if dockerfile is not None:
        arguments += ["--file", "-"]
    docker(*arguments, str(context), timeout=timeout, stdin=dockerfile.encode() if dockerfile else None)


def run_detached(image: str, options: Sequence[str] = (), environment: Mapping[str, str] | None = None) -> str:
    """Start a container in the background; its id."""
    arguments = ["run", "--detach", *options]
    for name, value in (environment or {}).items():
        arguments += ["--env", f"{name}={value}"]
    return docker(*arguments, image, timeout=120).strip()


def host_port(container: str, port: int) -> int:
    """The host port published for the container's ``port`` (``docker run -p 127.0.0.1::PORT``)."""
    mapping = docker("port", container, f"{port}/tcp", timeout=30).split()[0]
    return int(mapping.rsplit(":", 1)[1])


def logs(container: str) -> str:
    cli = docker_cli()
    if cli is None:
        return ""
    completed = subprocess.run(  # noqa: S603
        [cli, "logs", container], capture_output=True, text=True, timeout=60, check=False
    )
    return completed.stdout + completed.stderr


def remove_container(container: str) -> None:
    """Stop and remove a container; quiet when it is already gone."""
    try:
        docker("rm", "--force", container, timeout=60)
    except DockerError:
        pass


def remove_image(tag: str) -> None:
    try:
        docker("rmi", "--force", tag, timeout=120)
    except DockerError:
        pass


def _tail(text: str, lines: int = 5) -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])
