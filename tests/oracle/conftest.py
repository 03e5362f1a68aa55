"""The oracle suite (marker ``oracle``): ``prep.inspect`` compared with independent readers.

Run it alone with ``python -m pytest -m oracle``; the README's test command runs it with the rest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.oracle)


@pytest.fixture(scope="session")
def pillow_corpus() -> Path:
    from oracles import corpus

    return corpus("pillow")


@pytest.fixture(scope="session")
def mutagen_corpus() -> Path:
    from oracles import corpus

    return corpus("mutagen")
