"""Start-up: ``import xr_coregix`` and ``align-image-pair --help`` load only what they use.

(The time it takes is measured in ``benchmarks/startup.py``; here, what is loaded.)
"""

import json
import subprocess
import sys

HEAVY = ("SimpleITK", "rioxarray", "dask.array", "distributed", "matplotlib")


def _loaded(code: str) -> dict:
    script = (
        f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_loads_none_of_the_heavy_libraries_and_registers_the_accessors():
    loaded = _loaded(
        "import xarray as xr, xr_coregix\nassert hasattr(xr.DataArray, 'coreg') and hasattr(xr.DataArray, 'odc')"
    )
    assert not any(loaded.values()), loaded


def test_help_of_the_command_line_loads_none_of_them():
    code = "import sys\nsys.argv = ['align-image-pair', '--help']\nfrom xr_coregix.cli import align_main\ntry:\n    align_main()\nexcept SystemExit:\n    pass"
    assert not any(_loaded(code).values())


def test_the_names_load_when_first_used():
    loaded = _loaded("import xr_coregix\nxr_coregix.register\nxr_coregix.write_geotiff")
    assert loaded["SimpleITK"] and loaded["rioxarray"] and not loaded["matplotlib"]
