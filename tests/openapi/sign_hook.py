"""Schemathesis hook: signs every request as the demo merchant (docs/wire.md#request-signing).

The signature covers the body bytes exactly as sent, so it is computed by a `requests` auth
callable, which runs after the body is serialized. Set BACKFLOW_CREDENTIALS to the data
directory's demo-merchant.json and SCHEMATHESIS_HOOKS=sign_hook (with this folder on PYTHONPATH).
"""

import base64
import datetime
import json
import os
import urllib.parse

import schemathesis
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

_CREDS = json.load(open(os.environ["BACKFLOW_CREDENTIALS"]))
_KEY = serialization.load_der_private_key(
    base64.b64decode(_CREDS["merchantPrivateKeyPkcs8"]), password=None
)
_CLIENT_ID = _CREDS["clientId"]


def _sign(request):
    path = urllib.parse.urlsplit(request.path_url).path
    if not path.startswith("/ams/"):
        return request
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    content = f"{request.method} {path}\n{_CLIENT_ID}.{now}.".encode("utf-8") + body
    signature = _KEY.sign(content, padding.PKCS1v15(), hashes.SHA256())
    encoded = urllib.parse.quote(base64.b64encode(signature).decode("ascii"), safe="")
    request.headers["client-id"] = _CLIENT_ID
    request.headers["request-time"] = now
    request.headers["signature"] = f"algorithm=RSA256,keyVersion=1,signature={encoded}"
    return request


@schemathesis.hook
def before_call(context, case, kwargs):
    kwargs["auth"] = _sign


_AUTH_REFUSALS = {"INVALID_SIGNATURE", "INVALID_CLIENT", "KEY_NOT_FOUND"}


@schemathesis.hook
def after_call(context, case, response):
    # A refused signature means the hook, not the server, is wrong: stop the run.
    if case.path.startswith("/ams/") and response.status_code == 200:
        code = response.json().get("result", {}).get("resultCode")
        if code in _AUTH_REFUSALS:
            raise AssertionError(f"{case.path}: the signature was refused: {response.text}")
