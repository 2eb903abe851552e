"""Which publishing errors mark an outbox row failed (Kafka refuses it for good) and which keep it for a retry."""

import pytest
from aiokafka import errors as kafka

from shared.outbox import Unpublishable, refused_for_good


@pytest.mark.parametrize(
    "error",
    [
        kafka.MessageSizeTooLargeError("The message is 2000155 bytes when serialized"),
        kafka.RecordTooLargeError(),
        kafka.InvalidTopicError(),
        kafka.TopicAuthorizationFailedError("billing.periods"),
        kafka.ClusterAuthorizationFailedError(),
        kafka.PolicyViolationError(),
        Unpublishable("'billing periods!' is not a topic name Kafka accepts"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_what_no_retry_can_change_is_refused_for_good(error):
    assert refused_for_good(error)


@pytest.mark.parametrize(
    "error",
    [
        kafka.KafkaConnectionError("Unable to connect"),
        kafka.KafkaTimeoutError(),  # aiokafka calls it not retriable; the broker may only be paused
        kafka.NoBrokersAvailable(),
        kafka.BrokerNotAvailableError(),
        kafka.RequestTimedOutError(),
        kafka.NotLeaderForPartitionError(),
        kafka.UnknownTopicOrPartitionError(),  # the topic may be created meanwhile
        kafka.ProducerClosed(),  # the service is stopping: the row waits for the next start
        ConnectionResetError("the connection was reset"),
        RuntimeError("anything else"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_what_may_pass_keeps_its_row_for_another_try(error):
    assert not refused_for_good(error)
