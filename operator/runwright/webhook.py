"""One HTTP POST of a notification, and what its answer means for a retry.

Careful by design, because the URL comes from a Secret anyone with write access to
it controls, and the operator's network position may be privileged:
- only http and https URLs; redirects are never followed (a 3xx is a final failure
  telling the user to put the final URL in the Secret);
- bounded time (connect, read, total) and a bounded read of the answer (only its
  first bytes, for the error message);
- the URL never appears in an error (a Slack webhook's path is its credential):
  errors name the scheme and host only;
- no proxy settings are taken from the environment.

Retrying is only for failures where the receiver certainly did not take the message
(no connection, or an answer of 408, 429 or 5xx). A timeout or a dropped connection
after the request was sent is ambiguous, and is not retried: the delivery is "at most
once" (docs/notifications.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from runwright.engine.notifications import Outcome

#: How much of an answer's body is read, for the error message.
MAX_ANSWER_BYTES = 4096
#: How much of it goes into the error.
MAX_ANSWER_CHARS = 200
#: Answers that say "not taken, try again later".
RETRYABLE_STATUS = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Timeouts:
    """Seconds allowed for connecting, for each read, and for the whole request."""

    connect: float = 5.0
    read: float = 10.0
    total: float = 20.0


def url_problem(url: str) -> str | None:
    """Why `url` cannot be posted to, or None; never quotes the URL (it is a secret)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https"):
        return "is not an http:// or https:// URL"
    if not parts.hostname:
        return "has no host"
    return None


def where(url: str) -> str:
    """The scheme and host of `url`: what an error may say about it."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.hostname}"


class WebhookClient:
    """The HTTP client of every notification of one process (one connection pool)."""

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        self.timeouts = timeouts or Timeouts()
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=self.timeouts.total,
                    sock_connect=self.timeouts.connect,
                    sock_read=self.timeouts.read,
                ),
                # A fresh connection per request: a kept-alive one the receiver closed
                # would fail after sending, which is the ambiguous case never retried.
                connector=aiohttp.TCPConnector(force_close=True),
                trust_env=False,
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """POST `body` to `url`; the outcome says whether it was taken and if a retry may help."""
        problem = url_problem(url)
        if problem is not None:
            return Outcome(ok=False, error=f"the URL in the Secret {problem}")
        to = where(url)
        try:
            async with self._client().post(
                url.strip(), data=body, headers=headers, allow_redirects=False
            ) as answer:
                head = await answer.content.read(MAX_ANSWER_BYTES)
                status = answer.status
        except aiohttp.ConnectionTimeoutError:
            return Outcome(ok=False, error=f"{to}: connect timed out", retryable=True)
        except aiohttp.ClientConnectorError as exc:
            return Outcome(ok=False, error=f"{to}: cannot connect ({exc.os_error})", retryable=True)
        except TimeoutError:
            return Outcome(
                ok=False, error=f"{to}: no answer in time; not retried, it may have arrived"
            )
        except aiohttp.ClientError as exc:
            return Outcome(
                ok=False,
                error=f"{to}: {type(exc).__name__} after sending; not retried, it may have arrived",
            )
        if 200 <= status < 300:
            return Outcome(ok=True)
        text = head.decode(errors="replace").strip()[:MAX_ANSWER_CHARS]
        error = f"{to} answered {status}" + (f": {text}" if text else "")
        if 300 <= status < 400:
            return Outcome(
                ok=False,
                error=f"{to} answered {status}, a redirect: redirects are not followed, put "
                "the final URL in the Secret",
            )
        return Outcome(ok=False, error=error, retryable=status >= 500 or status in RETRYABLE_STATUS)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
