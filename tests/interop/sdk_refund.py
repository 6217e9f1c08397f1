"""Drives Backflow with Antom's official Python SDK (global-alipay-sdk-python 1.0.1), unchanged.

Only the gateway URL and the keys are set. The SDK always dials port 443; this script patches
only the port of the SDK's HTTPS connection (to BACKFLOW_HTTPS_PORT), nothing else: the SDK still
signs every request, sends its absolute-form request line, and verifies every response signature
with the platform public key (execute() raises when a signature does not verify).

Usage: BACKFLOW_HTTPS_PORT=8443 BACKFLOW_CREDENTIALS=data/demo-merchant.json python3 sdk_refund.py
Exits non-zero, with the reason, on any failed expectation.
"""

import http.client
import json
import os
import sys
import uuid

from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
from com.alipay.ams.api.model.amount import Amount
from com.alipay.ams.api.model.payment_method import PaymentMethod
from com.alipay.ams.api.model.product_code_type import ProductCodeType
from com.alipay.ams.api.net import default_http_rpc
from com.alipay.ams.api.request.pay.alipay_pay_request import AlipayPayRequest
from com.alipay.ams.api.request.pay.alipay_refund_query_request import AlipayRefundQueryRequest
from com.alipay.ams.api.request.pay.alipay_refund_request import AlipayRefundRequest

PORT = int(os.environ["BACKFLOW_HTTPS_PORT"])


class _PortPatchedHttpClient:
    """The SDK module's view of http.client, with HTTPSConnection's port replaced."""

    def __getattr__(self, name):
        return getattr(http.client, name)

    @staticmethod
    def HTTPSConnection(host, port=None, **kwargs):
        return http.client.HTTPSConnection(host, PORT, **kwargs)


default_http_rpc.http_client = _PortPatchedHttpClient()


def client():
    with open(os.environ["BACKFLOW_CREDENTIALS"]) as f:
        creds = json.load(f)
    gateway = os.environ.get("BACKFLOW_GATEWAY", "https://127.0.0.1")
    return DefaultAlipayClient(
        gateway, creds["clientId"], creds["merchantPrivateKeyPkcs1"], creds["platformPublicKey"]
    )


def expect(cond, what, body):
    if not cond:
        sys.exit(f"FAILED: {what}\n  response: {body}")
    print(f"ok: {what}")


def amount(currency, value):
    a = Amount(currency, value)
    return a


def main():
    c = client()

    pay = AlipayPayRequest()
    pay.product_code = ProductCodeType.AGREEMENT_PAYMENT
    pay.payment_request_id = "pay-" + uuid.uuid4().hex
    pay.payment_amount = amount("USD", "1000")
    method = PaymentMethod()
    method.payment_method_type = "GCASH"
    pay.payment_method = method
    body = json.loads(c.execute(pay))
    expect(body["result"]["resultStatus"] == "S", "pay succeeds at once for a wallet agreement payment", body)
    payment_id = body["paymentId"]

    def refund(value, request_id=None):
        r = AlipayRefundRequest()
        r.refund_request_id = request_id or "refund-" + uuid.uuid4().hex
        r.payment_id = payment_id
        r.refund_amount = amount("USD", value)
        r.refund_reason = "interop test"
        return json.loads(c.execute(r))

    first = refund("300")
    expect(first["result"]["resultCode"] == "SUCCESS" and first["result"]["resultStatus"] == "S",
           "a partial refund succeeds synchronously", first)
    expect(first["refundAmount"] == {"currency": "USD", "value": "300"}, "the refund amount is echoed in minor units", first)
    second = refund("500")
    expect(second["result"]["resultStatus"] == "S", "a second refund succeeds", second)
    over = refund("201")
    expect(over["result"]["resultCode"] == "REFUND_AMOUNT_EXCEED" and over["result"]["resultStatus"] == "F",
           "a refund beyond what is left is refused with REFUND_AMOUNT_EXCEED", over)

    q = AlipayRefundQueryRequest()
    q.refund_id = first["refundId"]
    inquiry = json.loads(c.execute(q))
    expect(inquiry["result"]["resultStatus"] == "S" and inquiry["refundStatus"] == "SUCCESS"
           and inquiry["refundRequestId"] == first["refundRequestId"],
           "inquiryRefund by refundId reports SUCCESS", inquiry)

    q = AlipayRefundQueryRequest()
    q.refund_request_id = "no-such-refund-" + uuid.uuid4().hex
    missing = json.loads(c.execute(q))
    expect(missing["result"]["resultCode"] == "REFUND_NOT_EXIST", "an unknown refund is REFUND_NOT_EXIST", missing)
    print("interop: all expectations met")


if __name__ == "__main__":
    main()
