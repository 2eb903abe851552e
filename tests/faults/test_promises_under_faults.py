"""The design's promises (nothing lost, every effect once) proven by a round of 2,000 contacts under faults:
every contact gets exactly one invite (a duplicate email carries the same Message-ID), every answer has its
effect exactly once, and nothing goes to the dead letters (`FaultRound.prove_promises`).

The round takes its five faults one after another, each while the round is mid-way (the asserts say so): a
round costs about 45 CPU-seconds, so one round carries them rather than five. When a wait runs out, the
harness's progress line says which fault the round had reached."""

import pytest

from tests.faults.harness import CONTACTS, fault_round

pytestmark = pytest.mark.slow

BROKER_PAUSED_SECONDS = 20
MAIL_SERVER_DOWN_SECONDS = 30


async def test_a_round_keeps_every_promise_through_a_killed_notifier_mail_server_broker_database_and_answers():
    async with fault_round() as round_:
        await round_.open_period()
        async with round_.contacts_answering():
            await round_.mail_caught(CONTACTS // 5)
            round_.notifier.kill()
            assert round_.mail.count() < CONTACTS, "the notifier should have died in the middle of sending"
            round_.notifier.start()
            await round_.notifier.ready()

            await round_.mail_caught(CONTACTS * 2 // 5)
            await round_.infrastructure.refuse_mail(MAIL_SERVER_DOWN_SECONDS)
            assert round_.mail.count() < CONTACTS, "the mail server should have been down in the middle of sending"

            await round_.mail_caught(CONTACTS * 3 // 5)
            await round_.infrastructure.pause_broker(BROKER_PAUSED_SECONDS)
            assert round_.answers_given < len(round_.answering), "the broker should have paused mid-round"

            await round_.infrastructure.restart_postgres()
            assert round_.answers_given < len(round_.answering), "PostgreSQL should have restarted mid-round"

            round_.responses.kill()
            round_.claims.kill()
            assert round_.answers_given < len(round_.answering), "the answers should have been mid-stream"
            round_.responses.start()
            round_.claims.start()
            await round_.responses.ready()
            await round_.claims.ready()
        await round_.prove_promises()
