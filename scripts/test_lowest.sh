#!/usr/bin/env bash
# The test suite against the lowest versions pyproject.toml admits (uv's lowest-direct
# resolution), in a throwaway virtual environment: checks the lower bounds we declare.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet uv
"$work/venv/bin/python" -m uv pip install --quiet --python "$work/venv/bin/python" \
    --resolution lowest-direct ".[test]"
"$work/venv/bin/python" -m uv pip list --python "$work/venv/bin/python" | \
    grep -Ei '^(numpy|affine|xarray|rioxarray|odc-geo|dask|simpleitk|rasterio) '
"$work/venv/bin/pytest" -p no:cacheprovider "$@"
