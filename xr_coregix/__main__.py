"""``python -m xr_coregix``: the ``align-image-pair`` command line."""

import sys

from .cli import align_main

sys.exit(align_main())
