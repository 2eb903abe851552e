"""Errors a person can meet, by what they mean; `shared.service` turns each into its HTTP status.

The message is shown as it is, so it says what happened and what to do next, in a full sentence.
"""


class ProblemForPerson(Exception):
    status_code = 400


class InvalidRequest(ProblemForPerson):
    status_code = 422


class NotAuthenticated(ProblemForPerson):
    status_code = 401


class NotAllowed(ProblemForPerson):
    status_code = 403


class NotFound(ProblemForPerson):
    status_code = 404


class Conflict(ProblemForPerson):
    status_code = 409


class TooManyAttempts(ProblemForPerson):
    status_code = 429
