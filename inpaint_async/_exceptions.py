"""The exception tree. Every error this SDK raises is an :class:`InpaintError`.

::

    * InpaintError
      + ConfigurationError          bad local setup (no credentials, bad key); nothing was sent
        - ValidationError            bad local input (file, prompt, parameter); nothing was sent
          · PriceError                 a catalogue price a budget cannot trust; nothing was sent
        - EventLoopMismatchError     an async client used from a second event loop; nothing was sent
        - JournalCorruptError        a batch journal line (not the last) is not a record
                                     (defined in inpaint_async.batch)
      + APIError
        - APIConnectionError         the request never got an answer before it was sent in full
          · APITimeoutError          connect timeout (safe to retry)
        - OutcomeUnknownError        sent, but no answer: the edit may have been charged
        - UnexpectedResponseError    a 2xx that is not what the endpoint returns (JSON, empty)
          · ResponseTooLargeError    a body over the client's size limit (max_image_bytes...)
        - APIStatusError             .status_code .body .headers .request_id .code .details
          · BadRequestError 400      · AuthenticationError 401
          · PaymentRequiredError 402, typed by shape (.payment_required: the decoded header):
            - X402DiscoveryError        A: no credentials sent; .info has accepts, authOptions
            - WalletCreditError         B: wallet credit below $0.10 (code PAYMENT_REQUIRED);
                                           .info has topUpInstructions, balances; a top-up fixes it
            - InsufficientBalanceError  C: API-key balance or spend limit; x402 cannot fix it
          · PermissionDeniedError 403 · NotFoundError 404 · ConflictError 409 · GoneError 410
          · PayloadTooLargeError 413 · UnsupportedMediaTypeError 415
          · ContentPolicyError 422   · RateLimitError 429 (.retry_after .reset_at)
          · ServerError 5xx (GatewayTimeoutError 504)
      + LedgerError                  the spend ledger (file) cannot be used; nothing was sent
      + SpendCapError                a spend cap would be exceeded; nothing was signed or sent
        - TopUpLimitError            (also a TopUpError) a top-up cap; nothing was signed
      + TopUpError                   a wallet top-up did not complete
        - TopUpLimitError            see above
        - PaymentRailError           no offered rail we sign (USDC on Base), or a bad amount or
                                     payee; nothing was signed (defined in inpaint_async.x402)
        - SettlementFailedError      402 SETTLEMENT_FAILED: no funds moved; may be retried
        - SettlementPendingError     settlement timed out: the payment may still land
      + OutputWriteError             a paid image could not be written to output=; .request_id,
                                     .data (the bytes) or .saved_to (where they are)

Every error pickles and unpickles (multiprocessing, ``ProcessPoolExecutor``, Celery, Ray): the
generic :meth:`InpaintError.__reduce__` rebuilds it without calling the keyword-only
constructors, and response headers are kept as a picklable ``CIMultiDict`` copy.

The status → class table is :data:`STATUS_CLASSES`. This module is a leaf: turning a response into
one of these errors (``make_status_error``, which never fails on an odd body) is
:mod:`inpaint_async._response`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from multidict import CIMultiDict

if TYPE_CHECKING:
    from .x402.models import PaymentRequiredBody, WalletCreditRequired

__all__ = [
    "STATUS_CLASSES",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ContentPolicyError",
    "EventLoopMismatchError",
    "GatewayTimeoutError",
    "GoneError",
    "InpaintError",
    "InsufficientBalanceError",
    "LedgerError",
    "NotFoundError",
    "OutcomeUnknownError",
    "OutputWriteError",
    "PayloadTooLargeError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "PriceError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ServerError",
    "SettlementFailedError",
    "SettlementPendingError",
    "SpendCapError",
    "TopUpError",
    "TopUpLimitError",
    "UnexpectedResponseError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "WalletCreditError",
    "X402DiscoveryError",
    "status_class",
]


def _rebuild(cls: type[InpaintError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle an error without calling its (keyword-only) constructor."""
    obj = cls.__new__(cls)
    Exception.__init__(obj, *args)
    obj.__dict__.update(state)
    return obj


class InpaintError(Exception):
    """Base class of every error raised by inpaint_async."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own __reduce__ calls cls(*args), which keyword-only constructors refuse:
        # rebuild from the message and the attributes instead.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class ConfigurationError(InpaintError):
    """The client is set up wrongly (no credentials, a malformed key, a bad option); nothing was sent."""


class ValidationError(ConfigurationError, ValueError):
    """A request argument is invalid (file, prompt, parameter); raised before anything is sent.

    One case is found during a send: a file that changed size, vanished or became unreadable
    after it was checked. The request is then cut off before its body is complete, so no
    server can have processed it.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class EventLoopMismatchError(ConfigurationError, RuntimeError):
    """An async client was used from an event loop other than the one it first ran in.

    Its HTTP connections belong to that first loop. Create one client per loop (per
    ``asyncio.run``), or use :class:`~inpaint_async.SyncInpaintClient` from synchronous code.
    Nothing was sent.
    """


class PriceError(ValidationError):
    """A catalogue price that cannot bound spend (missing, zero, negative or absurdly small):
    a budget refuses to launch the job. ``.model`` names the model, ``.price_usd`` is the price
    (``None`` when missing). ``BatchRunner(allow_unpriced=True)`` (CLI ``--allow-unpriced``)
    runs such jobs anyway, counted at $0."""

    def __init__(self, message: str, *, model: str | None, price_usd: Decimal | None) -> None:
        super().__init__(message, param="model")
        self.model = model
        self.price_usd = price_usd


class APIError(InpaintError):
    """A request went (or tried to go) to the API and did not succeed."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


class APIConnectionError(APIError):
    """The connection failed before the request was sent in full; the server did no work."""


class APITimeoutError(APIConnectionError):
    """The connection could not be established in time; the server did no work."""


class OutcomeUnknownError(APIError):
    """The request was sent but no usable answer came back: it may have been charged.

    Raised for a 504, a read timeout, or a disconnect after the body was sent. Retried only when
    the caller opts in with ``RetryPolicy(retry_unknown_outcome=True)``.
    """


class UnexpectedResponseError(APIError):
    """A success status whose body is not what the endpoint returns (JSON or empty for an image).

    A 2xx from the API may have been charged: a batch records it as an unknown outcome, so a
    resume does not pay for it again unless asked to.
    """


class ResponseTooLargeError(UnexpectedResponseError):
    """A response body exceeded the client's limit (``max_image_bytes`` / ``max_json_bytes``)."""


class APIStatusError(APIError):
    """The API answered with an error status."""

    status_code: ClassVar[int] = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any,
        headers: Mapping[str, str],
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status_code = status_code  # type: ignore[misc]
        self.body = body
        # A copy: aiohttp's CIMultiDictProxy cannot be pickled; CIMultiDict can, and stays
        # case-insensitive.
        self.headers: Mapping[str, str] = CIMultiDict(headers)
        code = body.get("code") if isinstance(body, dict) else None
        if code is None and isinstance(body, dict):
            # Top-up errors put their code in "error" ("SETTLEMENT_FAILED").
            err = body.get("error")
            if isinstance(err, str) and err.isupper() and " " not in err:
                code = err
        self.code: str | None = code if isinstance(code, str) else None
        self.details: Any = body.get("details") if isinstance(body, dict) else None

    def __str__(self) -> str:
        parts = [f"{self.status_code} {self.message}"]
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


class BadRequestError(APIStatusError):
    """400: the server rejected the request (schema, model, image, prompt)."""


class AuthenticationError(APIStatusError):
    """401: bad API key or SIWX header; ``.code`` holds ``X402_SIGN_IN_*`` for wallets."""


class PaymentRequiredError(APIStatusError):
    """402: payment or credit is required. The subclasses type Venice's three 402 shapes.

    ``.payment_required`` is the decoded ``PAYMENT-REQUIRED`` header, or ``None`` when the server
    sent none (or it did not parse); ``.info`` is the parsed body where a subclass has a model
    for it, else ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 402,
        body: Any,
        headers: Mapping[str, str],
        request_id: str | None = None,
        info: Any = None,
        payment_required: PaymentRequiredBody | None = None,
    ) -> None:
        super().__init__(
            message, status_code=status_code, body=body, headers=headers, request_id=request_id
        )
        self.info = info
        self.payment_required = payment_required


class X402DiscoveryError(PaymentRequiredError):
    """402 shape A: the request carried no credentials; ``.info`` lists the payment options.

    ``.info`` is the parsed body (``accepts``, ``authOptions``, ``extensions``), or ``None`` when
    it did not parse.
    """

    info: PaymentRequiredBody | None


class WalletCreditError(PaymentRequiredError):
    """402 shape B (``code == "PAYMENT_REQUIRED"``): the wallet's credit is below the minimum.

    The only 402 a top-up fixes. ``.info`` is the parsed body (balance, minimum and suggested
    top-up, ``topUpInstructions``, ``siwxChallenge``) or ``None``; ``.payment_required`` (the
    header) carries a different payload from the body.
    """

    info: WalletCreditRequired | None


class InsufficientBalanceError(PaymentRequiredError):
    """402 shape C: an API-key account out of funds or over a key spend limit (or a wallet short
    of a queued job's price). A wallet top-up does not fix it; ``.message`` says what does."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or resource."""


class NotFoundError(APIStatusError):
    """404: not found (for edits: the server could not fetch the input URL)."""


class ConflictError(APIStatusError):
    """409: conflict (for top-ups: the same payment is still settling)."""


class GoneError(APIStatusError):
    """410: a retired endpoint or model."""


class PayloadTooLargeError(APIStatusError):
    """413: the file is over 25 MB or the JSON body over 35 MB."""


class UnsupportedMediaTypeError(APIStatusError):
    """415: the body's content type or encoding was refused."""


class ContentPolicyError(APIStatusError):
    """422 (or a 200 flagged as a content violation): the content policy refused the edit."""


class RateLimitError(APIStatusError):
    """429: rate limited, model overloaded, error budget spent or wallet concurrency cap."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any,
        headers: Mapping[str, str],
        request_id: str | None = None,
        retry_after: float | None = None,
        reset_at: datetime | None = None,
    ) -> None:
        super().__init__(
            message, status_code=status_code, body=body, headers=headers, request_id=request_id
        )
        self.retry_after = retry_after
        self.reset_at = reset_at

    @property
    def is_concurrency_limit(self) -> bool:
        """Whether this 429 is the per-wallet in-flight cap (``X402_CONCURRENCY_LIMIT``)."""
        return self.code == "X402_CONCURRENCY_LIMIT"


class ServerError(APIStatusError):
    """5xx: the server failed."""


class GatewayTimeoutError(ServerError):
    """504: the gateway timed out; for a paid call the outcome is unknown."""


class LedgerError(InpaintError):
    """The spend ledger cannot be used: a file of another spender, a newer schema, a file that
    is not a ledger, or a storage failure. The file is never overwritten; nothing was sent."""


class SpendCapError(InpaintError):
    """A spend cap would be exceeded; nothing was signed or sent.

    Attributes:
        cap_name: Which cap (``max_total_usd``, ``max_per_day_usd``,
            ``max_edit_spend_per_day_usd``, ``max_usd``...).
        cap_usd: The cap's value.
        spent_usd: What already counts against it (signed or spent, plus open reservations).
        requested_usd: What this call asked for.
    """

    def __init__(
        self,
        message: str,
        *,
        cap_name: str = "",
        cap_usd: Decimal | None = None,
        spent_usd: Decimal | None = None,
        requested_usd: Decimal | None = None,
    ) -> None:
        super().__init__(message)
        self.cap_name = cap_name
        self.cap_usd = cap_usd
        self.spent_usd = spent_usd
        self.requested_usd = requested_usd


class TopUpError(InpaintError):
    """A wallet top-up did not complete."""


class TopUpLimitError(SpendCapError, TopUpError):
    """The top-up would exceed the caller's cap; nothing was signed."""


class SettlementPendingError(TopUpError):
    """A signed top-up's outcome is unknown: it may still be credited.

    Raised when settlement timed out (504 ``SETTLEMENT_TIMEOUT``, a 500, a dropped connection)
    or stayed ``PAYMENT_IN_PROGRESS``, and the credit did not show in the balance before the
    deadline. Do not sign another payment for the same need before ``valid_before`` (Unix
    seconds): until then the signed authorization can still settle. Automatic top-ups refuse to
    sign again until then.
    """

    def __init__(self, message: str, *, amount_usd: Decimal, valid_before: int) -> None:
        super().__init__(message)
        self.amount_usd = amount_usd
        self.valid_before = valid_before


class SettlementFailedError(TopUpError):
    """The top-up settlement failed (402 ``SETTLEMENT_FAILED``); no funds moved."""


class OutputWriteError(InpaintError):
    """A paid image came back but could not be written to ``output=`` (disk full, read-only, ...).

    The request succeeded and was charged; do not simply retry. The image is not lost:
    ``.data`` holds its bytes when they could be kept in memory, and ``.saved_to`` names a file
    that holds them when one was left on disk (``None`` otherwise).

    Attributes:
        request_id: The server's request id (CF-RAY) of the paid request.
        output: The destination that could not be written.
        data: The image bytes, or ``None``.
        saved_to: A file holding the complete image, or ``None``.
        content_type: The image's content type.
    """

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None,
        output: Path,
        data: bytes | None = None,
        saved_to: Path | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.output = output
        self.data = data
        self.saved_to = saved_to
        self.content_type = content_type

    def __str__(self) -> str:
        where = (
            f"the image is kept in {self.saved_to}"
            if self.saved_to is not None
            else "the image bytes are on this exception (.data)"
            if self.data is not None
            else "the image bytes could not be kept"
        )
        rid = f" request_id={self.request_id}" if self.request_id else ""
        return f"{self.message}; {where}{rid}"


STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: ContentPolicyError,
    429: RateLimitError,
    504: GatewayTimeoutError,
}


def status_class(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status (the table above, 5xx → ServerError)."""
    cls = STATUS_CLASSES.get(status)
    if cls is not None:
        return cls
    return ServerError if status >= 500 else APIStatusError
