"""The notifier's mail workers refuse a lease that a send could outlast."""

import pytest

from services.notifier.mail.smtp import SmtpMailer
from services.notifier.mail.workers import InviteMailWorker, PasswordMailWorker
from shared.clock import Clock
from shared.service import ServiceResources
from shared.settings import Settings


@pytest.mark.parametrize("worker", [InviteMailWorker, PasswordMailWorker])
def test_a_lease_no_longer_than_the_smtp_timeout_is_refused_before_anything_is_sent(worker):
    settings = Settings(service_name="notifier", smtp_timeout_seconds=30, mail_lease_seconds=30)
    with pytest.raises(ValueError, match=r"MAIL_LEASE_SECONDS \(30\) must be longer than SMTP_TIMEOUT_SECONDS \(30\)"):
        worker(ServiceResources(settings, pool=None, clock=Clock()), SmtpMailer(settings))


def test_the_default_lease_outlasts_the_default_smtp_timeout():
    settings = Settings(service_name="notifier")
    InviteMailWorker(ServiceResources(settings, pool=None, clock=Clock()), SmtpMailer(settings))
