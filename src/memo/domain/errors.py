"""Domain errors carry stable UPPER_SNAKE codes so every edge can map them without parsing text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One invalid field: where it is (dotted, wire-neutral) and what is wrong with it."""

    field: str
    message: str


class DomainError(Exception):
    code: str = "DOMAIN_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    code = "VALIDATION_ERROR"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("The request is invalid.")
        self.problems = problems

    @classmethod
    def single(cls, field: str, message: str) -> ValidationFailed:
        return cls([FieldProblem(field, message)])


class MemoryNotFound(DomainError):
    code = "MEMORY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("Memory not found.")


class VersionConflict(DomainError):
    code = "VERSION_CONFLICT"

    def __init__(self, current: int) -> None:
        super().__init__(f"The memory has changed: its current version is {current}.")
        self.current = current


class IdempotencyConflict(DomainError):
    code = "IDEMPOTENCY_CONFLICT"

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was already used with a different request body.")


class OwnerNotFound(DomainError):
    code = "OWNER_NOT_FOUND"

    def __init__(self, name: str) -> None:
        super().__init__(f"No owner named {name!r}.")


class OwnerAlreadyExists(DomainError):
    code = "OWNER_EXISTS"

    def __init__(self, name: str) -> None:
        super().__init__(f"An owner named {name!r} already exists.")


class ApiKeyNotFound(DomainError):
    code = "KEY_NOT_FOUND"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"No API key {key_id!r}.")


class SecretUnreadable(DomainError):
    """A sealed secret that cannot be opened: another ENCRYPTION_KEY, or corrupted or tampered bytes."""

    code = "SECRET_UNREADABLE"

    def __init__(self, reason: str) -> None:
        super().__init__(f"A stored secret cannot be opened: {reason}.")
