"""Build every lab image locally: the base, then the services through compose."""
from __future__ import annotations

import os
import subprocess

from churnlab.compose.stack import ALL_PROFILES, DEFAULT_BASE_IMAGE, Stack, image_exists, profile_flags
from churnlab.core import catalog
from churnlab.core.catalog import Selection
from churnlab.core.console import Logged, run_logged, run_logged_together
from churnlab.core.errors import LabError
from churnlab.core.paths import BASE_IMAGE_SCRIPT, STATE_DIR

BUILT_SERVICES = ("db", "app", "pgbouncer", "front", "k6", "port-sampler")


def _pull_or_fail(ref: str, why: str) -> None:
    if image_exists(ref):
        return
    proc = subprocess.run(["docker", "pull", ref], capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(f"{why} {ref} is not present and cannot be pulled "
                       f"({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'no registry'}); "
                       f"unset it to build everything locally")


def ensure_base(base_image: str) -> None:
    if image_exists(base_image):
        return
    if base_image != DEFAULT_BASE_IMAGE:
        _pull_or_fail(base_image, "BASE_IMAGE")
        return
    run_logged(["bash", str(BASE_IMAGE_SCRIPT), base_image],
               f"building base image {base_image} with debootstrap", STATE_DIR / "base-image.log")


# What this process built already (build_all's key -> its images): one command that starts the lab
# many times (make rank, make matrix, a training session, the test suite) builds, or confirms, once.
_BUILT: dict[tuple, list[str]] = {}


def build_all(pg_major: str | None = None) -> list[str]:
    """Build (or confirm cached) every image, the db image of one PostgreSQL
    major (PG_MAJOR unless given); return the image references. Once per process
    for the same major, base, POSTGRES_IMAGE and presets file (the files a build
    reads do not change under a running command), while every image is still there."""
    stack = Stack(Selection.of("direct", "default"), pg_major=pg_major)
    base_image = os.environ.get("BASE_IMAGE", DEFAULT_BASE_IMAGE)
    key = (stack.pg_major, base_image, os.environ.get("POSTGRES_IMAGE"), str(catalog.presets_file()))
    if key in _BUILT and image_exists(*_BUILT[key]):
        return list(_BUILT[key])
    _BUILT[key] = built = _build_all(stack, base_image)
    return list(built)


def _build_all(stack: Stack, base_image: str) -> list[str]:
    """The base first, then every service's image and the app images of the other locks at the same
    time (each its own build, its own log): the app images build while the others do."""
    ensure_base(base_image)
    services = list(BUILT_SERVICES)
    postgres_image = os.environ.get("POSTGRES_IMAGE")
    if postgres_image:
        _pull_or_fail(postgres_image, "POSTGRES_IMAGE")
        services.remove("db")
    services_config = stack.config(*ALL_PROFILES)["services"]
    built = {svc["image"] for svc in services_config.values()}
    others = _other_app_images(built)
    run_logged_together(
        [Logged(stack.argv(*profile_flags(*ALL_PROFILES), "build", *services),
                f"building images ({', '.join(services)})", STATE_DIR / "build.log", stack.env())]
        + [Logged(other.argv("build", "app"), f"building {image} (variant {other.selection.variant})",
                  STATE_DIR / f"build-{other.selection.variant}.log", other.env())
           for image, other in others.items()])
    return sorted(built | set(others))


def _other_app_images(done: set[str]) -> dict[str, Stack]:
    """The app images of the other locks (today's stack: churnlab/app-today:1), each with the stack of the
    first variant that names it (its build)."""
    chosen: dict[str, Stack] = {}
    for name in catalog.variants():
        image = str(catalog.variant(name)["app_image"])
        if image not in done and image not in chosen:
            chosen[image] = Stack(Selection.of(name, "default"))
    return chosen
