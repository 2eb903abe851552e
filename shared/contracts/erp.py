"""The ERP contract (docs/events.md): fixed by the ERP, on `erp.commitments` and `erp.directory`."""

from decimal import Decimal
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import EmailStr, Field, field_validator

from shared.contracts.base import Contract

CommitmentsPermission = Literal["none", "read_only", "standard", "admin"]
PERMISSION_RANK: dict[str, int] = {"none": 0, "read_only": 1, "standard": 2, "admin": 3}
# The statuses in which a commitment is invited to bill, and may be billed (rule 5).
INVITABLE_STATUSES = {
    "subcontract": {"approved", "complete"},
    "purchase_order": {"approved", "partially_received", "received"},
}


class ErpProject(Contract):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    timezone: str = Field(min_length=1, description="An IANA time zone name, such as Australia/Sydney.")
    currency: str = Field(min_length=3, max_length=3)
    company_name: str = ""
    # Where the project is, as ISO 3166-2 (AU-NSW, AU-QLD, NZ-AUK, ...); optional, so events without it still work.
    # A region with a Security of Payment Act starts the payment-schedule clock of a submitted claim (rule 18c).
    region: str | None = Field(default=None, max_length=10)

    @field_validator("timezone")
    @classmethod
    def _known_time_zone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{timezone!r} is not an IANA time zone name") from error
        return timezone


class ErpVendor(Contract):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)


class ErpContact(Contract):
    user_id: str = Field(min_length=1)
    name: str
    email: EmailStr


class ScheduleOfValuesLine(Contract):
    line_id: str = Field(min_length=1)
    cost_code: str = ""
    description: str = ""
    scheduled_value: Decimal = Field(ge=0, decimal_places=2)


class CommitmentUpserted(Contract):
    TYPE: ClassVar[str] = "erp.commitment.upserted.v1"

    commitment_id: str = Field(min_length=1)
    version: int = Field(ge=0)
    kind: Literal["subcontract", "purchase_order"]
    number: str
    title: str
    status: str = Field(min_length=1)
    project: ErpProject
    vendor: ErpVendor
    invoice_contacts: list[ErpContact] = Field(default_factory=list)
    retention_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    schedule_of_values: list[ScheduleOfValuesLine] = Field(default_factory=list)


class ErpCompany(Contract):
    id: str
    name: str


class ProjectMemberUpserted(Contract):
    TYPE: ClassVar[str] = "erp.project_member.upserted.v1"

    user_id: str = Field(min_length=1)
    version: int = Field(ge=0)
    name: str
    email: EmailStr
    company: ErpCompany | None = None
    project_id: str = Field(min_length=1)
    commitments_permission: CommitmentsPermission


class ProjectMemberRemoved(Contract):
    TYPE: ClassVar[str] = "erp.project_member.removed.v1"

    user_id: str = Field(min_length=1)
    project_id: str = Field(min_length=1)
    version: int = Field(ge=0)
