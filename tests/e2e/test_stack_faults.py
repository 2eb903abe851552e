"""The local stack's promises under faults: a restart with events in flight, a service killed (SIGKILL) in
turn during a round, and a round with two processes of each service. Each ends with every contact invited
once, every answer given having its effect once, and nothing in dead letters."""

import asyncio
import signal

import pytest

from tests.e2e.local_stack import LocalStack, StackRound, stack_environment

pytestmark = pytest.mark.slow


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
        assert "Replayed" in stack.output and "no events" not in stack.output, stack.output
        answered = {round.email(number): yes_for_even(number) for number in range(round.contacts)}
        await round.answer(range(round.contacts), yes_for_even)
        await round.until_effects_of(answered)
        await round.assert_every_effect_once(answered)
    finally:
        assert stack.stop() == 0, stack.output
