"""Where the licensed sample market data lives (read in place, never copied into the repo)."""

import os
from pathlib import Path

import pytest

DATA_DIR = Path(
    os.environ.get("MARKET_DATA_DIR") or Path(__file__).resolve().parents[2] / "../shared/data"
)


def data_file(name: str) -> Path:
    """A file of the licensed sample data, read in place (never copied into the repository)."""
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"market data not found at {path} (set MARKET_DATA_DIR)")
    return path
