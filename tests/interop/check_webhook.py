"""Checks Backflow's notifications with Antom's official Python SDK (global-alipay-sdk-python 1.0.1).

A merchant verifies a notification with `webhook_tool.check_signature(http_method, path, client_id,
request_time, body, signature_header, alipay_public_key)`. This script runs exactly that on every
notification a test receiver captured, and checks that a tampered body is rejected, so that a
check that accepts anything cannot pass.

Usage: python3 check_webhook.py webhooks.json
  {"platformPublicKey": "<base64 SPKI>",
   "notifications": [{"path", "clientId", "requestTime", "signature", "body"}, ...]}
Exits non-zero, with the reason, on any failed check.
"""

import json
import sys

from com.alipay.ams.api.tools.webhook_tool import check_signature


def verified(n, key, body):
    try:
        return bool(
            check_signature("POST", n["path"], n["clientId"], n["requestTime"], body, n["signature"], key)
        )
    except Exception:  # the SDK raises on some malformed signatures
        return False


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    key = data["platformPublicKey"]
    notifications = data["notifications"]
    if not notifications:
        sys.exit("FAILED: no notifications to check")
    for n in notifications:
        if not verified(n, key, n["body"]):
            sys.exit(f"FAILED: the SDK rejects the notification to {n['path']}: {n['body']}")
        if verified(n, key, n["body"] + " "):
            sys.exit(f"FAILED: the SDK accepts a tampered body for {n['path']}")
        print(f"ok: {n['path']} {json.loads(n['body'])['notifyType']}")
    print(f"webhook: {len(notifications)} notifications verified")


if __name__ == "__main__":
    main()
