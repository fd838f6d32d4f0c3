"""A stand-in for AWS's Lambda base image, for machines that cannot pull ``public.ecr.aws/lambda/python``.

``python -m lambda_build.standin_base`` builds it once and tags it; later calls find the tag and return.

It has the layout the project's Dockerfile relies on: ``LAMBDA_TASK_ROOT=/var/task`` as the working
folder, ``pip`` on PATH, and AWS's runtime interface client (``awslambdaric``, from PyPI) as the
entrypoint, so the image's ``CMD ["lambda_function.handler"]`` names the handler exactly as on Lambda.
What it does not have: AWS's runtime interface emulator (drive it through the runtime API instead,
see ``runtime_api``), and AWS's Python build: its Python is Debian bookworm's 3.11, not 3.12.

How: ``debootstrap --variant=minbase`` of Debian bookworm with python3 and pip, from the mirror apt
already uses, imported with ``docker import``; then a small build adds the machine's extra CA
certificates (outbound TLS may pass through an intercepting proxy: pip inside the image needs them)
and installs ``awslambdaric``. The certificates go into the stand-in only, never into the project's image.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .containers import DockerError, build_image, docker_cli, image_present, remove_image

SUITE = "bookworm"
AWSLAMBDARIC = "awslambdaric==4.2.2"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
HOST_CERTIFICATES = Path("/usr/local/share/ca-certificates")
WORK_FOLDER = Path(tempfile.gettempdir())  # debootstrap's output never lands in the repository

STANDIN_DOCKERFILE = f"""\
FROM {{rootfs}}
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates && python3 -m pip install --no-cache-dir --break-system-packages {AWSLAMBDARIC}
ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime
WORKDIR /var/task
ENTRYPOINT ["python3", "-m", "awslambdaric"]
"""

# The tag changes with the recipe, so a changed recipe builds a new stand-in instead of reusing a stale one.
_RECIPE = f"{SUITE}|minbase|python3,python3-pip,ca-certificates|{STANDIN_DOCKERFILE}"
STANDIN_TAG = f"lambdaone-standin/lambda-python:{SUITE}-{hashlib.sha256(_RECIPE.encode()).hexdigest()[:12]}"


class StandinUnavailableError(RuntimeError):
    """The stand-in cannot be built on this machine; the message says why."""


def ensure_standin_base(say: Callable[[str], None] = print) -> str:
    """The stand-in base image's tag, building it first when it is not in the local store."""
    if image_present(STANDIN_TAG):
        return STANDIN_TAG
    with _build_lock():
        if image_present(STANDIN_TAG):  # built meanwhile by another process
            return STANDIN_TAG
        _check_prerequisites()
        rootfs_tag = f"{STANDIN_TAG}-rootfs"
        try:
            _import_rootfs(rootfs_tag, say)
            say(f"standin_base: installing {AWSLAMBDARIC} on top")
            with tempfile.TemporaryDirectory(prefix="lambdaone-standin-context-", dir=WORK_FOLDER) as folder:
                context = Path(folder)
                _copy_certificates(context / "ca-certificates")
                build_image(context, STANDIN_TAG, dockerfile=STANDIN_DOCKERFILE.format(rootfs=rootfs_tag))
        except DockerError as error:
            raise StandinUnavailableError(str(error)) from None
        finally:
            remove_image(rootfs_tag)
    say(f"standin_base: built {STANDIN_TAG}")
    return STANDIN_TAG


def _check_prerequisites() -> None:
    if shutil.which("debootstrap") is None:
        raise StandinUnavailableError("debootstrap is not installed (apt-get install -y debootstrap)")
    if os.geteuid() != 0:
        raise StandinUnavailableError("debootstrap needs root")


def _import_rootfs(tag: str, say: Callable[[str], None]) -> None:
    """debootstrap a minimal Debian with Python into a temporary folder, and import it as an image."""
    mirror = apt_mirror()
    debootstrap = shutil.which("debootstrap") or "debootstrap"
    folder = Path(tempfile.mkdtemp(prefix="lambdaone-standin-rootfs-", dir=WORK_FOLDER))
    try:
        say(f"standin_base: debootstrap {SUITE} from {mirror} (about a minute)")
        completed = subprocess.run(  # noqa: S603 (fixed arguments)
            [debootstrap, "--variant=minbase", "--include=python3,python3-pip,ca-certificates",
             SUITE, str(folder), mirror],
            capture_output=True, text=True, timeout=900, check=False,
        )
        if completed.returncode != 0:
            last = [line for line in (completed.stdout + completed.stderr).splitlines() if line.strip()][-3:]
            raise StandinUnavailableError(f"debootstrap failed: {' | '.join(last)}")
        _docker_import(folder, tag)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _docker_import(folder: Path, tag: str) -> None:
    """``tar -C folder -c . | docker import - tag``, streamed (the tree is a few hundred MB)."""
    cli = docker_cli()
    if cli is None:
        raise StandinUnavailableError("no docker command on PATH")
    with subprocess.Popen(["tar", "-C", str(folder), "-c", "."], stdout=subprocess.PIPE) as tar:  # noqa: S603, S607
        imported = subprocess.run(  # noqa: S603
            [cli, "import", "-", tag], stdin=tar.stdout, capture_output=True, text=True, timeout=600, check=False
        )
        tar.wait(timeout=600)
    if tar.returncode != 0 or imported.returncode != 0:
        raise StandinUnavailableError(f"docker import failed: {imported.stderr.strip()[-300:] or 'tar failed'}")


def apt_mirror() -> str:
    """The Debian mirror apt uses here (deb822 ``.sources`` or one-line ``.list``), else deb.debian.org."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for stanza in path.read_text(errors="replace").split("\n\n"):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, flags=re.MULTILINE))
            if SUITE in fields.get("Suites", "").split() and "main" in fields.get("Components", "").split():
                return fields.get("URIs", DEFAULT_MIRROR).split()[0]
    lists = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = re.sub(r"\[[^]]*\]", "", line).split()
            if len(words) >= 4 and words[0] == "deb" and words[2] == SUITE and "main" in words[3:]:
                return words[1]
    return DEFAULT_MIRROR


def _copy_certificates(destination: Path) -> None:
    destination.mkdir(parents=True)
    for certificate in sorted(HOST_CERTIFICATES.glob("*.crt")):
        shutil.copyfile(certificate, destination / certificate.name)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time on this machine (parallel test workers would otherwise debootstrap twice)."""
    with open(WORK_FOLDER / "lambdaone-standin.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m lambda_build.standin_base", description=__doc__.splitlines()[0]).parse_args(argv)
    try:
        print(ensure_standin_base())
    except StandinUnavailableError as error:
        print(f"standin_base: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
