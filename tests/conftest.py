"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """The book's mnist.pkl.gz: ``$NNCORE_DATA`` if set, else ``../shared/data/``.

    The repository's parent holds ``shared/`` beside the checkout.  Nothing is
    downloaded; a missing file fails the test, since CI always has it.
    """
    env = os.environ.get("NNCORE_DATA")
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            path = path / "mnist.pkl.gz"
        origin = f"NNCORE_DATA={env}"
    else:
        path = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.pkl.gz"
        origin = "the repository's ../shared/data/"
    if not path.is_file():
        pytest.fail(
            f"mnist.pkl.gz not found at {path} (from {origin}); set NNCORE_DATA to "
            "the file or to the directory holding it"
        )
    return path
