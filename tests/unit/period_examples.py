"""The project, administrator and clock the billing-period rules' tests share."""

from datetime import UTC, datetime

from services.periods.domain.periods import Project
from shared.contracts.base import Person

SYDNEY = Project(id="P-100", name="Harbour Tower", timezone="Australia/Sydney")
ADMIN = Person(id="U-1", name="Alex Admin", email="alex@acme.example")
NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
