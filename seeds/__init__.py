"""Embedded default data (Qingdao) with its provenance in SOURCES.md."""
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent


def seed_path(name: str) -> Path:
    """Path of an embedded seed file, e.g. ``seed_path("qingdao_districts.gpkg")``."""
    return SEEDS_DIR / name
