"""Exclusion masks from quality bands: Landsat bit-packed QA and Sentinel-2 scene classes.

Every reader returns a boolean array of the input's shape, True where a pixel is to be excluded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from ..errors import CoregError, DataTypeError


class _Flag(NamedTuple):
    """Where a condition lives in a Landsat QA band: its single-bit flags, and the offset of its
    2-bit confidence field (values 0 none / not determined, 1 low, 2 medium, 3 high)."""

    bits: tuple[int, ...]
    confidence: int


# The conditions of each layout; a layout without a condition has no key for it.
_LANDSAT_LAYOUTS: dict[str, dict[str, _Flag]] = {
    "collection2": {
        "cloud": _Flag((3, 1), 8),  # 3 cloud, 1 dilated cloud
        "cirrus": _Flag((2,), 14),
        "shadow": _Flag((4,), 10),
        "snow": _Flag((5,), 12),
    },
    "collection1": {
        "cloud": _Flag((4,), 5),
        "cirrus": _Flag((), 11),
        "shadow": _Flag((), 7),
        "snow": _Flag((), 9),
    },
    "pre-collection": {
        "cloud": _Flag((), 14),
        "cirrus": _Flag((), 12),
        "snow": _Flag((), 10),
    },
}

_CONFIDENCE = {"low": 1, "medium": 2, "high": 3}

# Sentinel-2 L2A SCL classes excluded by default: no data (0), saturated or defective (1), cloud
# shadows (3), clouds of medium and high probability (8, 9) and thin cirrus (10): what hides the
# ground or corrupts it. Dark areas (2) and unclassified (7) are often valid ground (terrain
# shadow, bright soil) and snow (11) is real surface, so they are kept.
DEFAULT_SCL_EXCLUDE = (0, 1, 3, 8, 9, 10)

_SCL_CLASSES = range(12)


def check_integer(dtype: np.dtype, name: str, min_bits: int = 8) -> None:
    """Raise :class:`DataTypeError` unless ``dtype`` is an integer type of at least ``min_bits``."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu" or dtype.itemsize * 8 < min_bits:
        raise DataTypeError(
            f"{name} has dtype {dtype}, but it must be an integer type of at least {min_bits} "
            "bits: read the quality band as it is stored, without masking or scaling (e.g. "
            "rioxarray.open_rasterio without masked=True)"
        )


def _ints(seq: Iterable[int], name: str, allowed: range, what: str) -> tuple[int, ...]:
    """``seq`` as a tuple of ints, each in ``allowed``; :class:`CoregError` naming ``name``."""
    try:
        out = tuple(seq)
    except TypeError:
        raise CoregError(f"{name}={seq!r} must be a sequence of integers") from None
    bad = [
        v
        for v in out
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) not in allowed
    ]
    if bad:
        raise CoregError(
            f"{name}={seq!r} holds {bad}: {what} are integers from {allowed.start} to "
            f"{allowed.stop - 1}"
        )
    return tuple(int(v) for v in out)


def _unsigned(qa: np.ndarray) -> np.ndarray:
    """``qa`` as the unsigned type of its size, so that shifts see its raw bits."""
    return qa.astype(f"u{qa.dtype.itemsize}", copy=False)


def bit_field(qa: np.ndarray, offset: int, width: int = 1) -> np.ndarray:
    """The unsigned integer value of bits ``offset`` to ``offset + width - 1`` of ``qa``.

    Parameters
    ----------
    qa : numpy.ndarray
        An integer array (a signed one is read as its two's complement bits).
    offset : int
        The lowest bit of the field, 0 being the least significant.
    width : int
        The number of bits of the field.

    Returns
    -------
    numpy.ndarray
        The unsigned integer type of ``qa``'s size, of ``qa``'s shape.

    Raises
    ------
    DataTypeError
        When ``qa`` is not of an integer type.
    CoregError
        When the field does not fit in the dtype.

    Examples
    --------
    >>> import numpy as np
    >>> qa = np.array([0b1100_0000_0000_0000, 0b0100_0000_0000_0001], np.uint16)
    >>> bit_field(qa, 14, 2).tolist(), bit_field(qa, 0).tolist()
    ([3, 1], [0, 1])
    """
    qa = np.asarray(qa)
    check_integer(qa.dtype, "qa")
    nbits = qa.dtype.itemsize * 8
    if not (isinstance(offset, (int, np.integer)) and 0 <= offset < nbits):
        raise CoregError(f"offset={offset!r} must be a bit number of {qa.dtype}: 0 to {nbits - 1}")
    if not (isinstance(width, (int, np.integer)) and 1 <= width <= nbits - offset):
        raise CoregError(
            f"width={width!r} must be from 1 to {nbits - offset}: the field must fit in {qa.dtype}"
        )
    return (_unsigned(qa) >> offset) & ((1 << width) - 1)


def landsat_qa_clouds(
    qa: np.ndarray,
    layout: str = "collection2",
    *,
    cloud: bool = True,
    cirrus: bool = True,
    shadow: bool = True,
    snow: bool = False,
    confidence: str = "medium",
) -> np.ndarray:
    """The pixels of a Landsat quality band to exclude: clouds, cirrus, shadows and/or snow.

    A condition excludes a pixel when its flag bits are set or its confidence is at least
    ``confidence``. Fill pixels are not excluded: they are the data bands' nodata.

    The layouts, after the USGS product guides:

    ``"collection2"``, the Collection 2 ``QA_PIXEL`` band (USGS, *Landsat 8-9 Collection 2 Level 2
    Science Product Guide*, LSDS-1619, and *Landsat 4-7 ...*, LSDS-1618): bit 0 fill, 1 dilated
    cloud, 2 cirrus, 3 cloud, 4 cloud shadow, 5 snow, 6 clear, 7 water, 8-9 cloud confidence,
    10-11 cloud shadow confidence, 12-13 snow/ice confidence, 14-15 cirrus confidence. ``cloud``
    reads bits 3 and 1 and the cloud confidence, ``cirrus`` bit 2 and the cirrus confidence,
    ``shadow`` bit 4 and the shadow confidence, ``snow`` bit 5 and the snow/ice confidence.

    ``"collection1"``, the Landsat 8 Collection 1 ``BQA`` band (USGS, *Landsat Collection 1
    Level-1 Quality Assessment Band*; *Landsat 8 Data Users Handbook*, LSDS-1574): bit 0 fill,
    1 terrain occlusion, 2-3 radiometric saturation, 4 cloud, 5-6 cloud confidence, 7-8 cloud
    shadow confidence, 9-10 snow/ice confidence, 11-12 cirrus confidence. ``cloud`` reads bit 4
    and the cloud confidence; the other conditions their confidence.

    ``"pre-collection"``, the Landsat 8 pre-collection ``BQA`` band (USGS, *Landsat 8
    Pre-Collection Quality Assessment Band*; *Landsat Quality Assessment Tools User Guide*,
    2017): bit 0 designated fill, 1 dropped frame, 2 terrain occlusion, 4-5 water confidence,
    10-11 snow/ice confidence, 12-13 cirrus confidence, 14-15 cloud confidence (00 not
    determined, 01 low 0-33 %, 10 medium 34-66 %, 11 high 67-100 %). It has no cloud shadow
    field: ``shadow`` does not apply and is ignored.

    Parameters
    ----------
    qa : numpy.ndarray
        The quality band, of an integer type of at least 16 bits (Landsat's is uint16).
    layout : {"collection2", "collection1", "pre-collection"}
        The bit layout of ``qa``.
    cloud : bool
        Exclude clouds.
    cirrus : bool
        Exclude cirrus.
    shadow : bool
        Exclude cloud shadows (not applicable to ``"pre-collection"``).
    snow : bool
        Exclude snow and ice.
    confidence : {"medium", "low", "high"}
        The lowest confidence that excludes. Clear pixels commonly carry a *low* confidence of
        every condition, so ``"low"`` excludes nearly everything.

    Returns
    -------
    numpy.ndarray of bool
        True where a pixel is to be excluded.

    Raises
    ------
    DataTypeError
        When ``qa`` is not of an integer type of at least 16 bits.
    CoregError
        When another argument is not one of its allowed values.

    Examples
    --------
    Collection 2 values: clear land, cloud (high confidence), cloud shadow, and clear land
    with a medium cirrus confidence.

    >>> import numpy as np
    >>> qa = np.array([21824, 22280, 23888, 38208], np.uint16)
    >>> landsat_qa_clouds(qa).tolist()
    [False, True, True, True]
    >>> landsat_qa_clouds(qa, cirrus=False, shadow=False).tolist()
    [False, True, False, False]
    >>> landsat_qa_clouds(np.array([20480, 53248], np.uint16), "pre-collection").tolist()
    [False, True]
    """
    qa = np.asarray(qa)
    check_integer(qa.dtype, "qa", min_bits=16)
    if layout not in _LANDSAT_LAYOUTS:
        raise CoregError(f"layout={layout!r} is not one of {list(_LANDSAT_LAYOUTS)}")
    if confidence not in _CONFIDENCE:
        raise CoregError(f"confidence={confidence!r} is not one of {list(_CONFIDENCE)}")
    wanted = {"cloud": cloud, "cirrus": cirrus, "shadow": shadow, "snow": snow}
    for name, value in wanted.items():
        if not isinstance(value, (bool, np.bool_)):
            raise CoregError(f"{name}={value!r} must be True or False")
    level = _CONFIDENCE[confidence]
    exclude = np.zeros(qa.shape, dtype=bool)
    for name, flag in _LANDSAT_LAYOUTS[layout].items():
        if wanted[name]:
            exclude |= bit_field(qa, flag.confidence, 2) >= level
            for bit in flag.bits:
                exclude |= bit_field(qa, bit) == 1
    return exclude


def scl_clouds(scl: np.ndarray, classes: Iterable[int] = DEFAULT_SCL_EXCLUDE) -> np.ndarray:
    """The pixels of a Sentinel-2 L2A scene classification (``SCL``) band in ``classes``.

    The classes (ESA, *Sentinel-2 Level-2A Algorithm Theoretical Basis Document*; as
    ``odc.stac.load`` returns the ``SCL`` / ``scl`` band): 0 no data, 1 saturated or defective,
    2 dark area pixels, 3 cloud shadows, 4 vegetation, 5 not vegetated, 6 water,
    7 unclassified, 8 cloud medium probability, 9 cloud high probability, 10 thin cirrus,
    11 snow.

    Parameters
    ----------
    scl : numpy.ndarray
        The scene classification, of an integer type.
    classes : sequence of int
        The classes to exclude, from 0 to 11; by default :data:`DEFAULT_SCL_EXCLUDE`
        (no data, defective, cloud shadows, clouds and cirrus).

    Returns
    -------
    numpy.ndarray of bool
        True where a pixel is to be excluded.

    Raises
    ------
    DataTypeError
        When ``scl`` is not of an integer type.
    CoregError
        When a class is not an integer from 0 to 11.

    Examples
    --------
    >>> import numpy as np
    >>> scl = np.arange(12, dtype=np.uint8)
    >>> np.flatnonzero(scl_clouds(scl)).tolist()
    [0, 1, 3, 8, 9, 10]
    >>> np.flatnonzero(scl_clouds(scl, classes=(8, 9, 11))).tolist()
    [8, 9, 11]
    """
    scl = np.asarray(scl)
    check_integer(scl.dtype, "scl")
    return np.isin(scl, _ints(classes, "classes", _SCL_CLASSES, "SCL classes"))


def values_or_bits(
    data: np.ndarray, *, values: Iterable[int] = (), bits: Iterable[int] = ()
) -> np.ndarray:
    """The pixels of an integer quality band equal to one of ``values`` or with any of ``bits`` set.

    Parameters
    ----------
    data : numpy.ndarray
        The quality band, of an integer type.
    values : sequence of int
        Values to exclude; each must be one the dtype can hold.
    bits : sequence of int
        Bit numbers (0 the least significant) whose being set excludes; each must fit the dtype.
        At least one of ``values`` and ``bits`` must be given.

    Returns
    -------
    numpy.ndarray of bool
        True where a pixel is to be excluded.

    Raises
    ------
    DataTypeError
        When ``data`` is not of an integer type.
    CoregError
        When neither ``values`` nor ``bits`` is given, or one does not fit the dtype.

    Examples
    --------
    >>> import numpy as np
    >>> data = np.array([0, 1, 2, 3, 4, 255], np.uint8)
    >>> values_or_bits(data, values=(0, 255)).tolist()
    [True, False, False, False, False, True]
    >>> values_or_bits(data, bits=(1,)).tolist()  # 2, 3 and 255 have bit 1 set
    [False, False, True, True, False, True]
    >>> values_or_bits(data, values=(4,), bits=(0,)).tolist()
    [False, True, False, True, True, True]
    """
    data = np.asarray(data)
    check_integer(data.dtype, "data")
    info = np.iinfo(data.dtype)
    values = _ints(values, "values", range(info.min, info.max + 1), f"values of {data.dtype}")
    bits = _ints(bits, "bits", range(info.bits), f"bit numbers of {data.dtype}")
    if not values and not bits:
        raise CoregError("give values=(...) or bits=(...) (or both): both are empty")
    exclude = np.isin(data, values)
    if bits:
        exclude |= (_unsigned(data) & sum(1 << b for b in set(bits))) != 0
    return exclude
