"""ERP records for tests, in the shape of the ERP contract (shared/contracts/erp.py), with overridable fields."""

from datetime import datetime

from shared.contracts.erp import CommitmentUpserted, ProjectMemberRemoved, ProjectMemberUpserted
from shared.contracts.invites import InviteSent
from shared.envelope import CloudEvent


def commitment(commitment_id: str = "SC-0042", version: int = 1, project_id: str = "P-100", **fields):
    data = {
        "commitment_id": commitment_id,
        "version": version,
        "kind": "subcontract",
        "number": commitment_id,
        "title": "Formwork and concrete",
        "status": "approved",
        "project": {
            "id": project_id,
            "name": "Harbour Tower",
            "timezone": "Australia/Sydney",
            "currency": "AUD",
            "company_name": "Acme Builders Pty Ltd",
        },
        "vendor": {"id": "V-7", "name": "Concrete Co Pty Ltd"},
        "invoice_contacts": [{"user_id": "U-9", "name": "Jane Citizen", "email": "jane@concreteco.example"}],
        "retention_percent": "5",
        "schedule_of_values": [
            {"line_id": "1", "cost_code": "03-300", "description": "Footings", "scheduled_value": "125000.00"}
        ],
    }
    data.update(fields)
    return CommitmentUpserted.model_validate(data)


def member(user_id: str = "U-9", version: int = 1, project_id: str = "P-100", permission: str = "read_only", **fields):
    data = {
        "user_id": user_id,
        "version": version,
        "name": "Jane Citizen",
        "email": "jane@concreteco.example",
        "company": {"id": "V-7", "name": "Concrete Co Pty Ltd"},
        "project_id": project_id,
        "commitments_permission": permission,
    }
    data.update(fields)
    return ProjectMemberUpserted.model_validate(data)


def removal(user_id: str = "U-9", version: int = 2, project_id: str = "P-100") -> ProjectMemberRemoved:
    return ProjectMemberRemoved(user_id=user_id, project_id=project_id, version=version)


def erp_event(record, time: datetime | None = None) -> CloudEvent:
    return CloudEvent.new(record.TYPE, "erp://acme", record.model_dump(mode="json"), time=time)


def invite_sent(invite_id: str, period_id: str, project_id: str, commitment_id: str, contact: dict, **fields):
    """InviteSent for the November 2026 round of Harbour Tower (due 5 December in Sydney), with overridable fields."""
    data = {
        "invite_id": invite_id,
        "period_id": period_id,
        "project_id": project_id,
        "project_name": "Harbour Tower",
        "project_timezone": "Australia/Sydney",
        "commitment": {
            "commitment_id": commitment_id,
            "number": "SC-0042",
            "title": "Formwork and concrete",
            "vendor_name": "Concrete Co Pty Ltd",
        },
        "contact": contact,
        "invited_by": {"id": "U-1", "name": "Alex Admin", "email": "alex@acme.example"},
        "start_date": "2026-11-01",
        "end_date": "2026-11-30",
        "due_date": "2026-12-05",
        "due_at": "2026-12-05T13:00:00Z",
        "sent_at": "2026-11-20T00:00:00Z",
    }
    data.update(fields)
    return InviteSent.model_validate(data)
