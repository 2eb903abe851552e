"""The topics (docs/architecture.md). Kafka key = aggregate id on every one of them."""

ERP_COMMITMENTS = "erp.commitments"
ERP_DIRECTORY = "erp.directory"
BILLING_PERIODS = "billing.periods"
BILLING_INVITES = "billing.invites"
BILLING_RESPONSES = "billing.responses"
BILLING_CLAIMS = "billing.claims"
ACCOUNTS = "accounts"
SERVICES = ("periods", "notifier", "responses", "claims")


def dead_letter_topic(service: str) -> str:
    return f"dlq.{service}"


ALL_TOPICS = (
    ERP_COMMITMENTS,
    ERP_DIRECTORY,
    BILLING_PERIODS,
    BILLING_INVITES,
    BILLING_RESPONSES,
    BILLING_CLAIMS,
    ACCOUNTS,
    *(dead_letter_topic(service) for service in SERVICES),
)
