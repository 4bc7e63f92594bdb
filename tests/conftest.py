from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    """The four seed documents, as bundled under training_data/raw."""
    return ROOT / "training_data" / "raw"
