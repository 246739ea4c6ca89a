"""Shared fixtures: the shipped real crops (read once per session)."""

import pytest
from synthetic import inner, open_crop, rigid


@pytest.fixture(scope="session")
def b4():
    return open_crop("B4")


@pytest.fixture(scope="session")
def b5():
    return open_crop("B5")


@pytest.fixture(scope="session")
def b8():
    return open_crop("B8")


@pytest.fixture(scope="session")
def fixed(b4):
    """The reference: B4 without a 32-pixel border (320 x 320 at 30 m)."""
    return inner(b4, 32)


@pytest.fixture(scope="session")
def grid(fixed):
    """The reference's grid."""
    return fixed.odc.geobox


@pytest.fixture(scope="session")
def truth(grid):
    """A misregistration of 2.3 px east, 1.7 px north and 0.6 degrees about the centre."""
    return rigid(2.3, 1.7, 0.6, grid)


@pytest.fixture(scope="module")
def client():
    """A dask.distributed cluster of two single-threaded worker processes (a module's tests
    share it)."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
