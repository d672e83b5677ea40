"""Where the recorded Salesforce responses are: ``../shared/reference`` beside the clone, as CI lays it out."""

from __future__ import annotations

from pathlib import Path


def _find() -> Path | None:
    for candidate in (Path(__file__).resolve().parents[3] / "shared" / "reference", Path("/work/shared/reference")):
        if (candidate / "recorded" / "bulk2").is_dir():
            return candidate / "recorded"
    return None


RECORDED_DIR = _find()
SKIP_REASON = "../shared/reference is not beside the clone"
