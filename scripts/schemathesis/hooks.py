"""Schemathesis hooks for scripts/fuzz-api: every /checkout request is authenticated and signed
exactly as the API requires, so generated requests reach the handlers instead of stopping at the
guard.

The signature covers the bytes actually sent, so it is computed on the prepared request (a
`requests` auth object runs after the body is serialised):
SIGNATURE = Base64(HMAC-SHA512(signKey, METHOD + TIMESTAMP + PATH + "?" + QUERY + BODY)),
TIMESTAMP in epoch milliseconds (docs/api.md, crates/client/src/signature.rs).

Path parameters named `page_token` are, half of the time, the token of a real order
(WCHECKOUT_FUZZ_PAGE_TOKEN), so the payment page's routes are fuzzed past their 404.

Environment: WCHECKOUT_FUZZ_URL (the gateway's base URL), WCHECKOUT_FUZZ_CREDENTIALS (the JSON
printed by `wcheckout app create --json`) and optionally WCHECKOUT_FUZZ_PAGE_TOKEN.
"""

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from urllib.parse import urlsplit

import requests
import schemathesis
from hypothesis import strategies as st

BASE_URL = os.environ["WCHECKOUT_FUZZ_URL"].rstrip("/")
with open(os.environ["WCHECKOUT_FUZZ_CREDENTIALS"], encoding="utf-8") as file:
    CREDENTIALS = json.load(file)
PAGE_TOKEN = os.environ.get("WCHECKOUT_FUZZ_PAGE_TOKEN")

# Access tokens last 30 minutes by default; take a fresh one well before that.
TOKEN_LIFETIME_SECS = 600


class AccessToken:
    """A client_credentials access token, fetched once and renewed when old."""

    def __init__(self):
        self._lock = threading.Lock()
        self._token = None
        self._fetched_at = 0.0

    def get(self):
        with self._lock:
            if self._token is None or time.monotonic() - self._fetched_at > TOKEN_LIFETIME_SECS:
                self._token = self._fetch()
                self._fetched_at = time.monotonic()
            return self._token

    @staticmethod
    def _fetch():
        answer = requests.post(
            f"{BASE_URL}/user/auth/oauth2/token",
            params={
                "grant_type": "client_credentials",
                "api_key": CREDENTIALS["apiKey"],
                "api_secret": CREDENTIALS["apiSecret"],
            },
            timeout=10,
        )
        answer.raise_for_status()
        envelope = answer.json()
        if envelope.get("retcode") != "200":
            raise RuntimeError(f"no access token: {envelope.get('retcode')} {envelope.get('retmsg')}")
        return envelope["retdata"]["access_token"]


class SignedCheckoutRequest(requests.auth.AuthBase):
    """Adds the Bearer token, SIGNATURE and TIMESTAMP to /checkout requests, over the final bytes."""

    def __init__(self, token):
        self._token = token
        self._sign_key = CREDENTIALS["signKey"].encode("utf-8")

    def __call__(self, request):
        url = urlsplit(request.url)
        if not url.path.startswith("/checkout/"):
            return request
        timestamp = str(time.time_ns() // 1_000_000)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        message = request.method.upper().encode() + timestamp.encode() + url.path.encode()
        if url.query:
            message += b"?" + url.query.encode()
        message += body
        digest = hmac.new(self._sign_key, message, hashlib.sha512).digest()
        request.headers["Authorization"] = f"Bearer {self._token.get()}"
        request.headers["SIGNATURE"] = base64.b64encode(digest).decode("ascii")
        request.headers["TIMESTAMP"] = timestamp
        return request


ACCESS_TOKEN = AccessToken()
# Fetched now, before any generated request: fuzzing the token endpoint soon puts this address
# over its limit of failed token requests (00429 for a minute, docs/api.md), and one token
# outlives the run (FUZZ_TIMEOUT_SECS, 300 s by default).
ACCESS_TOKEN.get()
SIGNER = SignedCheckoutRequest(ACCESS_TOKEN)


@schemathesis.hook
def before_call(context, case, kwargs):
    # The transport passes these keyword arguments on to `requests`; its auth hook sees the
    # prepared request, so the signature covers exactly what goes on the wire.
    kwargs["auth"] = SIGNER


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    if PAGE_TOKEN and path_parameters and "page_token" in path_parameters:
        return st.sampled_from([path_parameters, {**path_parameters, "page_token": PAGE_TOKEN}])
    return st.just(path_parameters)
