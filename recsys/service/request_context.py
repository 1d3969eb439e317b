"""The answering request's id, readable from any layer below the API (for error logs).

Set by the API's middleware (recsys.api.observe) for the time of each HTTP request; "-" outside
one (the CLI, background tasks).
"""

from contextvars import ContextVar

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
