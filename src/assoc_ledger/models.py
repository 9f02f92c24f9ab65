"""Imports every domain's models so that metadata (Alembic, tests) sees all tables.

It also loads the services that register what an area does when another area's event happens (a recorded
death ends memberships and becomes a household event), so every process that touches the database, the
server, the CLI or a job, runs the same hooks.
"""

from assoc_ledger.auth import models as auth_models
from assoc_ledger.core.db import Base
from assoc_ledger.entitlements import models as entitlement_models
from assoc_ledger.fund import models as fund_models
from assoc_ledger.households import models as household_models
from assoc_ledger.households import services as _household_hooks  # noqa: F401
from assoc_ledger.members import models as member_models
from assoc_ledger.members import services as _member_hooks  # noqa: F401
from assoc_ledger.orgs import models as org_models
from assoc_ledger.people import models as people_models
from assoc_ledger.relief import models as relief_models
from assoc_ledger.relief import services as _relief_hooks  # noqa: F401
from assoc_ledger.reports import models as report_models

__all__ = ["Base", "auth_models", "entitlement_models",
           "fund_models", "household_models", "include_name", "member_models", "org_models",
           "people_models", "relief_models", "report_models"]


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's filter: objects that migrations keep outside the models are not drift."""
    return name not in fund_models.SEARCH_INDEX_NAMES
