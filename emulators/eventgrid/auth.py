"""Publisher authentication as Azure checks it: an access key, or a SAS token signed with one.

A SAS token is ``r=<url-encoded resource>&e=<url-encoded expiry>&s=<url-encoded base64 HMAC-SHA256>``, the
HMAC taken with the base64-decoded topic key over the ``r=…&e=…`` text exactly as sent (this is what
``azure.eventgrid.generate_sas`` and Azure's C# sample produce). It is valid for every URL that starts with
its resource (the resource's query, e.g. ``?apiVersion=2018-01-01``, is not part of the prefix) until
its expiry. Expiry formats accepted: ISO 8601 (Python's ``str(datetime)`` included) and .NET's
``M/d/yyyy h:mm:ss tt``; a time without an offset is UTC.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import unquote, unquote_plus, urlsplit

from emulators.eventgrid.errors import Unauthorized
from emulators.eventgrid.schemas import parse_time


def _hmac_key(key: str) -> bytes:
    try:
        return base64.b64decode(key)
    except (binascii.Error, ValueError):  # not base64 (a hand-made local key): sign with its text
        return key.encode()


def sign(unsigned: str, key: str) -> str:
    return base64.b64encode(hmac.new(_hmac_key(key), unsigned.encode(), hashlib.sha256).digest()).decode()


def _parse_expiry(text: str) -> dt.datetime | None:
    moment = parse_time(text)
    if moment is not None:
        return moment
    try:
        return dt.datetime.strptime(text, "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}".casefold()


def check_token(token: str, keys: Sequence[str], request_url: str, now: dt.datetime | None = None) -> None:
    """Raise :class:`Unauthorized` unless ``token`` is a valid, unexpired SAS for ``request_url``."""
    unsigned, sep, signature_part = token.rpartition("&s=")
    fields = dict(part.split("=", 1) for part in unsigned.split("&") if "=" in part)
    if not sep or "r" not in fields or "e" not in fields:
        raise Unauthorized("The SAS token is malformed: expected 'r=<resource>&e=<expiry>&s=<signature>'.")
    signature = unquote(signature_part)
    if not any(hmac.compare_digest(sign(unsigned, key), signature) for key in keys):
        raise Unauthorized("The SAS token signature is invalid for this topic's keys.")
    expiry = _parse_expiry(unquote_plus(fields["e"]))
    if expiry is None:
        raise Unauthorized(f"The SAS token expiry '{unquote_plus(fields['e'])}' is not a valid time.")
    if expiry <= (now or dt.datetime.now(dt.UTC)):
        raise Unauthorized(f"The SAS token expired at {expiry.isoformat()}.")
    resource = _without_query(unquote_plus(fields["r"]))
    if not _without_query(request_url).startswith(resource):
        raise Unauthorized(
            f"The SAS token's resource '{unquote_plus(fields['r'])}' does not cover {request_url}."
        )


def authenticate(
    headers: Mapping[str, str], query: Mapping[str, str], keys: Sequence[str], request_url: str, host: str
) -> None:
    """A key (header or query parameter) or a SAS token (``aeg-sas-token`` or
    ``Authorization: SharedAccessSignature``)."""
    key = headers.get("aeg-sas-key") or query.get("aeg-sas-key")
    if key is not None:
        if not any(hmac.compare_digest(key.encode(), k.encode()) for k in keys):
            raise Unauthorized(
                f"The request authorization key is not authorized for {host.upper()}. "
                "This is due to the reason: The specified authorization key is invalid or doesn't match "
                "the key for the topic."
            )
        return
    token = headers.get("aeg-sas-token")
    authorization = headers.get("Authorization", "")
    if token is None and authorization.startswith("SharedAccessSignature "):
        token = authorization.removeprefix("SharedAccessSignature ").strip()
    if token is None:
        raise Unauthorized(
            f"The request authorization header is missing for {host.upper()}: send aeg-sas-key, "
            "aeg-sas-token or 'Authorization: SharedAccessSignature …'."
        )
    check_token(token, keys, request_url)
