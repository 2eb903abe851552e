"""Who is invited and when invites may go out (rules 5 to 9), pure."""

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.domain import RetryPolicy, invite_id, may_send, message_id, reminder_at, skip_reason

DUE_AT = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("subcontract", "approved"),
        ("subcontract", "complete"),
        ("purchase_order", "approved"),
        ("purchase_order", "partially_received"),
        ("purchase_order", "received"),
    ],
)
def test_approved_and_complete_commitments_with_contacts_are_invited(kind, status):
    assert skip_reason(kind, status, contact_count=1) is None


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("subcontract", "draft"),
        ("subcontract", "out_for_bid"),
        ("subcontract", "out_for_signature"),
        ("subcontract", "terminated"),
        ("subcontract", "void"),
        ("purchase_order", "draft"),
        ("purchase_order", "processing"),
        ("purchase_order", "submitted"),
        ("purchase_order", "closed"),
        ("purchase_order", "complete"),
    ],
)
def test_commitments_not_yet_or_no_longer_approved_are_skipped_as_not_approved(kind, status):
    assert skip_reason(kind, status, contact_count=2) == "not_approved"


def test_an_approved_commitment_without_contacts_is_skipped_as_having_none():
    assert skip_reason("subcontract", "approved", contact_count=0) == "no_contacts"


def test_the_same_period_commitment_and_contact_always_make_the_same_invite():
    assert invite_id("p-1", "SC-1", "U-9") == invite_id("p-1", "SC-1", "U-9")
    assert invite_id("p-1", "SC-1", "U-9") != invite_id("p-1", "SC-1", "U-10")
    assert invite_id("p-1", "SC-1", "U-9") != invite_id("p-2", "SC-1", "U-9")


def test_a_message_id_names_the_invite_and_the_kind_of_sending():
    assert message_id("abc", "invite") == "<abc.invite@invite-to-bill>"
    assert message_id("abc", "resend", "r-7") == "<abc.resend.r-7@invite-to-bill>"


def test_nothing_is_sent_once_the_due_date_has_passed_or_the_period_is_closed():
    assert may_send(DUE_AT, "open", DUE_AT - timedelta(seconds=1))
    assert not may_send(DUE_AT, "open", DUE_AT)
    assert not may_send(DUE_AT, "closed", DUE_AT - timedelta(days=3))


def test_a_reminder_falls_the_given_number_of_days_before_the_due_instant():
    assert reminder_at(DUE_AT, 2, "Australia/Sydney") == datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
    assert reminder_at(DUE_AT, None, "Australia/Sydney") is None


def test_a_reminder_keeps_its_local_time_across_a_daylight_saving_change():
    # Due at midnight Sydney time on 6 October 2026 (UTC+11); two days earlier, 4 October 00:00, was UTC+10.
    due_at = datetime(2026, 10, 5, 13, 0, tzinfo=UTC)
    assert reminder_at(due_at, 2, "Australia/Sydney") == datetime(2026, 10, 3, 14, 0, tzinfo=UTC)


def test_retries_back_off_doubling_up_to_a_ceiling():
    policy = RetryPolicy(first_delay_seconds=5, max_delay_seconds=60)
    delays = [policy.delay(attempt).total_seconds() for attempt in range(1, 6)]
    assert delays == [5, 10, 20, 40, 60]
