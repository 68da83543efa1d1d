"""The API's refusal: an HTTP status and one line saying what is wrong (served as JSON)."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
