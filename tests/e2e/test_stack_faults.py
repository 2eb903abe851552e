"""The local stack's promises under faults: a restart with events in flight, a service killed (SIGKILL) in
turn during a round, and a round with two processes of each service. Each ends with every contact invited
once, every answer given having its effect once, and nothing in dead letters."""

import asyncio
import signal

import pytest

from tests.e2e.local_stack import LocalStack, StackRound, stack_environment

pytestmark = pytest.mark.slow

# Large enough that each service is killed with work in hand; small enough for about a minute on 2 cores.
CONTACTS = 90


def yes_for_even(number: int) -> str:
    return "yes" if number % 2 == 0 else "no"


async def test_events_in_flight_when_the_stack_stops_have_their_effect_once_after_it_starts_again(
    state_folder, environment
):
    environment = stack_environment(environment, state_folder)
    stack = await LocalStack(environment).ready()
    round = StackRound(stack, contacts=10)
    [responses] = stack.service_processes("responses")
    try:
        await round.publish_erp_records()
        # Responses hears nothing: the notifier's InviteSent events are published and not yet consumed.
        responses.send_signal(signal.SIGSTOP)
        await round.open_period()
        await round.until_mail_for(round.contacts)
        async with asyncio.timeout(30):
            while await stack.fetch(
                "notifier", "SELECT 1 FROM outbox WHERE published_at IS NULL AND event_type = 'billing.invite.sent.v1'"
            ):
                await asyncio.sleep(0.2)
        assert await stack.fetch("responses", "SELECT 1 FROM invites WHERE project_id = $1", round.project) == []
    finally:
        # The stack is told to stop first, so that it does not start the killed responses again.
        stack.process.send_signal(signal.SIGTERM)
        responses.send_signal(signal.SIGKILL)
        assert stack.stop() == 0, stack.output

    stack = round.stack = await LocalStack(environment).ready()
    try:
        answered = {round.email(number): yes_for_even(number) for number in range(round.contacts)}
        await round.answer(range(round.contacts), yes_for_even)
        await round.until_effects_of(answered)
        await round.assert_every_effect_once(answered)
        assert "Replayed" in stack.output and "no events" not in stack.output, stack.output
    finally:
        assert stack.stop() == 0, stack.output


async def test_each_service_and_the_broker_killed_in_turn_during_a_round_lose_nothing_and_do_nothing_twice(
    state_folder, environment
):
    stack = await LocalStack(stack_environment(environment, state_folder)).ready()
    try:
        round = StackRound(stack, contacts=CONTACTS)
        await round.publish_erp_records()
        await round.open_period()
        await round.until_mail_for(1)
        await stack.kill("notifier")  # in the middle of sending the invites

        # The answers come in waves; a service, then the broker, is killed in the middle of each.
        answered = {}
        killed = ("responses", "claims", "periods", "kafka")
        for wave, part in enumerate(killed):
            numbers = range(wave, round.contacts, len(killed))
            answering = asyncio.create_task(round.answer(numbers, yes_for_even))
            async with asyncio.timeout(60):
                while not set(await round.answers()) - set(answered):
                    await asyncio.sleep(0.1)
            await stack.kill(part)
            await answering
            answered |= {round.email(number): yes_for_even(number) for number in numbers}

        await round.until_effects_of(answered)
        await round.assert_every_effect_once(answered)
    finally:
        assert stack.stop() == 0, stack.output


async def test_a_round_with_two_processes_of_each_service_sends_each_email_once_and_loses_no_answer(
    state_folder, environment
):
    environment = stack_environment(environment, state_folder, replicas=2)
    stack = await LocalStack(environment, "--replicas", "2").ready()
    try:
        for service in ("periods", "notifier", "responses", "claims"):
            assert len(stack.service_processes(service)) == 2, stack.output
        round = StackRound(stack, contacts=CONTACTS)
        await round.publish_erp_records()
        await round.open_period()
        # Half the contacts answer on the second responses process (the links lead to the first).
        second = stack.port("responses") + 1
        await round.answer(
            range(round.contacts), yes_for_even, port_of=lambda number: second if number % 4 < 2 else None
        )
        answered = {round.email(number): yes_for_even(number) for number in range(round.contacts)}
        await round.until_effects_of(answered)
        await round.assert_every_effect_once(answered)
        # Nothing crashed: not even the same message twice.
        assert set(round.emails_per_contact().values()) == {1}
    finally:
        assert stack.stop() == 0, stack.output
