from __future__ import annotations

pytest_plugins = ["sf_assets.emulator.testing"]
