"""Invalid areas connected to a raster's exterior, and their widening by a margin."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def exterior_invalid(invalid: np.ndarray) -> np.ndarray:
    """Invalid pixels connected (8-connectivity) to the outside of the raster.

    Interior holes (a cloud mask, a lake of nodata) are not connected to the exterior and are
    left out; the collar around a scene, and any invalid inlet reaching it, are kept.

    Parameters
    ----------
    invalid : numpy.ndarray of bool
        2-D mask of invalid pixels.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((5, 5), bool); m[0, :] = True; m[2, 2] = True
    >>> int(exterior_invalid(m).sum())  # the top row, not the interior hole
    5
    """
    invalid = np.asarray(invalid, dtype=bool)
    if not invalid.any():
        return invalid.copy()
    # the raster's exterior is a one-pixel invalid frame around it: the seed of the fill
    framed = np.pad(invalid, 1, constant_values=True).astype(np.uint8)
    marker = np.zeros_like(framed)
    marker[0, :] = marker[-1, :] = marker[:, 0] = marker[:, -1] = 1
    filled = sitk.BinaryReconstructionByDilation(
        sitk.GetImageFromArray(marker),
        sitk.GetImageFromArray(framed),
        backgroundValue=0,
        foregroundValue=1,
        fullyConnected=True,
    )
    return sitk.GetArrayViewFromImage(filled)[1:-1, 1:-1].astype(bool)


def widen(mask: np.ndarray, depth: int) -> np.ndarray:
    """``mask`` dilated by a square of ``depth`` pixels on every side.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((7, 7), bool); m[3, 3] = True
    >>> int(widen(m, 2).sum())
    25
    """
    mask = np.asarray(mask, dtype=bool)
    if depth <= 0 or not mask.any():
        return mask.copy()
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    dilated = sitk.BinaryDilate(image, [depth, depth], sitk.sitkBox, 0, 1)
    return sitk.GetArrayViewFromImage(dilated).astype(bool)
