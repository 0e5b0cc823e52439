"""The one exception tree of paybot.

Callers catch the branch they can act on: invalid input is shown to the
person who typed it, an unavailable billing API is retried later, a rejection
carries the API's code and details, a rate limit says how long to wait.
"""

from __future__ import annotations

from typing import Any


class PaybotError(Exception):
    """Root of every error paybot raises on purpose."""


class ConfigError(PaybotError):
    """A setting is missing or malformed; the message names the variable."""


class InvalidInput(PaybotError):
    """Something a person typed cannot be accepted.

    ``reason`` is shown in chat as it is, so it says what was wrong and gives
    a valid example.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BillingError(PaybotError):
    """Any failure talking to the billing API."""


class BillingUnavailable(BillingError):
    """The API could not be reached or answered with a server error.

    Transient by nature: the same call may succeed later.
    """


class BillingRateLimited(BillingUnavailable):
    """The API answered 429; ``retry_after`` is the wait in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BillingRejected(BillingError):
    """The API understood the call and refused it (a 4xx other than 429)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details or {}


class BillingAuthError(BillingRejected):
    """The token is missing, wrong, expired or lacks permission (401/403)."""


class BillingNotFound(BillingRejected):
    """The object (session, invoice, subscription) does not exist (404)."""


class PaymentDeclined(BillingRejected):
    """The card was declined (402)."""


class DeliveryError(PaybotError):
    """A chat platform refused or failed to take a message.

    ``retry_after`` is set when the platform asked us to wait; ``permanent``
    means retrying cannot help (channel gone, bot blocked).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
