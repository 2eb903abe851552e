"""What every contract is, what a published event knows about itself, and the parts several events share."""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    TYPE: ClassVar[str]  # the CloudEvents `type`, version included


class PublishedEvent(Contract):
    """An event one of our services publishes. It knows where it goes, so publishing it is one line
    (`shared.outbox.record(connection, event)`): the publisher, the topic, and the aggregate whose id is the
    Kafka key, so that one aggregate's events stay in order."""

    PUBLISHER: ClassVar[str]  # the service; the CloudEvents `source` names it
    TOPIC: ClassVar[str]
    AGGREGATE_TYPE: ClassVar[str]
    AGGREGATE_ID: ClassVar[str]  # the field that holds the aggregate's id

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.AGGREGATE_ID))


class Person(Contract):
    """Someone acting in the system (an administrator opening a period, a contact submitting a claim)."""

    id: str
    name: str
    email: str


class Contact(Contract):
    """A progress claim contact of a commitment."""

    user_id: str
    name: str
    email: str

    @property
    def as_person(self) -> Person:
        return Person(id=self.user_id, name=self.name, email=self.email)
