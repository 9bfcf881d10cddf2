"""Webhook signatures per Standard Webhooks, as Svix (and so OpenMeter) sends them.

The signature is ``v1,`` + base64 of HMAC-SHA256, keyed with the secret's bytes, over
``"{id}.{timestamp}.{body}"``. Both header families are sent with the same values, so
receivers built on the ``svix`` or on the ``standardwebhooks`` library verify alike.
"""

import base64
import hashlib
import hmac

from ..domain.notifications import secret_key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers of one attempt: ``svix-*`` and ``webhook-*`` id, timestamp
    (Unix seconds of the attempt) and signature, plus the JSON content type."""
    values = {
        "id": msg_id,
        "timestamp": str(timestamp),
        "signature": signature(secret, msg_id, timestamp, body),
    }
    headers = {"Content-Type": "application/json"}
    for family in ("svix", "webhook"):
        headers.update({f"{family}-{name}": value for name, value in values.items()})
    return headers
