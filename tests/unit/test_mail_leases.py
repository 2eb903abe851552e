"""The settings refuse a mail lease that a send could outlast."""

import pytest
from pydantic import ValidationError

from shared.settings import Settings


def test_a_lease_no_longer_than_the_smtp_timeout_is_refused_before_anything_starts():
    with pytest.raises(
        ValidationError, match=r"MAIL_LEASE_SECONDS \(30\) must be longer than SMTP_TIMEOUT_SECONDS \(30\)"
    ):
        Settings(service_name="notifier", smtp_timeout_seconds=30, mail_lease_seconds=30)


def test_the_default_lease_outlasts_the_default_smtp_timeout():
    settings = Settings(service_name="notifier")
    assert settings.mail_lease_seconds > settings.smtp_timeout_seconds
