"""A local Salesforce org: HTTPS, SOAP/OAuth login, REST, SOQL and Bulk API 2.0 ingest.

Start one from the command line with ``python -m sf_assets.emulator --data-dir DIR``, from Python
with :class:`LocalOrg`, or in tests with the ``local_org`` pytest fixture
(``pytest_plugins = ["sf_assets.emulator.testing"]``). It imports nothing else from sf_assets.
"""

from __future__ import annotations

from .org import LocalOrg, OrgConfig
from .processing import ProcessingModel

__all__ = ["LocalOrg", "OrgConfig", "ProcessingModel"]
