"""Imports every domain's models so that metadata (Alembic, tests) sees all tables."""

from assoc_ledger.auth import models as auth_models
from assoc_ledger.core.db import Base
from assoc_ledger.fund import models as fund_models
from assoc_ledger.households import models as household_models
from assoc_ledger.members import models as member_models
from assoc_ledger.orgs import models as org_models
from assoc_ledger.people import models as people_models

__all__ = ["Base", "auth_models", "fund_models", "household_models", "member_models", "org_models", "people_models"]
