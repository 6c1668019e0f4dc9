"""The deployment artefact tier: `make package`'s output, checked without AWS.

The package is built once per session (or reused from dist/package when nothing
it is made from changed); its zip size is printed in the test summary.
"""

from __future__ import annotations

import pytest

from deploy.package import Package, build
from tests.conftest import summary_line


@pytest.fixture(scope="session")
def package() -> Package:
    built = build(verbose=False)
    state = "reused" if built.reused else f"built in {built.seconds:.1f}s"
    summary_line(
        f"Lambda package: {built.zip_bytes:,} bytes ({built.zip_bytes / 1_000_000:.1f} MB) zipped, "
        f"{state}: {built.zip.relative_to(built.directory.parent.parent)}"
    )
    return built
