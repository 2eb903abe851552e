"""What an operator runs against the configured broker and databases, as `itb` commands: the outboxes
(`outbox.py`), the events on the topics (`events.py`), the dead letters (`dead_letters.py`) and the consumer
groups' lag (`lag.py`)."""
