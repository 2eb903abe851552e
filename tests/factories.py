"""ERP records for tests, in the shape of DESIGN.md section 4, with overridable fields."""

from datetime import datetime

from shared.envelope import CloudEvent
from shared.events import CommitmentUpserted, ProjectMemberRemoved, ProjectMemberUpserted


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
