"""kg's trained extractors as they ship: model folders under ``kg/trained/models/``."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).parent / "models"
JOINT_MODEL = MODELS_DIR / "scierc-joint"
