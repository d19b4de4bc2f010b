import hashlib
import hmac

import pytest

from modelscreen.sources import auth

BODY = b'{"nodeId":"n","initiator":"admin/127.0.0.1","action":"CREATED"}'
SECRET = "s3cr3t"


def test_nexus_signature_valid():
    sig = hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    assert auth.nexus_signature(BODY, SECRET) == sig
    assert auth.verify_nexus(BODY, {"X-Nexus-Webhook-Signature": sig}, SECRET)
    assert auth.verify_nexus(BODY, {"x-nexus-webhook-signature": sig.upper().encode()}, SECRET)


@pytest.mark.parametrize(
    "headers, secret",
    [
        ({"X-Nexus-Webhook-Signature": "0" * 40}, SECRET),
        ({}, SECRET),
        ({"X-Nexus-Webhook-Signature": hmac.new(b"other", BODY, hashlib.sha1).hexdigest()}, SECRET),
        ({"X-Nexus-Webhook-Signature": hmac.new(b"", BODY, hashlib.sha1).hexdigest()}, ""),
        ({"X-Nexus-Webhook-Signature": "whatever"}, None),
    ],
)
def test_nexus_signature_invalid(headers, secret):
    assert not auth.verify_nexus(BODY, headers, secret)


def test_nexus_signature_over_modified_body():
    sig = auth.nexus_signature(BODY, SECRET)
    assert not auth.verify_nexus(BODY + b" ", {"X-Nexus-Webhook-Signature": sig}, SECRET)


def test_huggingface_secret():
    assert auth.verify_huggingface({"X-Webhook-Secret": SECRET}, SECRET)
    assert auth.verify_huggingface({"x-webhook-secret": SECRET.encode()}, SECRET.encode())
    assert not auth.verify_huggingface({"X-Webhook-Secret": "nope"}, SECRET)
    assert not auth.verify_huggingface({}, SECRET)
    assert not auth.verify_huggingface({"X-Webhook-Secret": ""}, "")


def test_harbor_auth_header():
    assert auth.verify_harbor({"Authorization": "Basic aGFyYm9yOnNlY3JldA=="}, "Basic aGFyYm9yOnNlY3JldA==")
    assert not auth.verify_harbor({"Authorization": "Basic eA=="}, "Basic aGFyYm9yOnNlY3JldA==")
    assert not auth.verify_harbor({}, "Basic aGFyYm9yOnNlY3JldA==")
    assert not auth.verify_harbor({"Authorization": ""}, None)


def test_shared_secret():
    assert auth.verify_shared_secret({"X-Modelscreen-Secret": SECRET}, SECRET)
    assert auth.verify_shared_secret({"Authorization": f"Bearer {SECRET}"}, SECRET)
    assert auth.verify_shared_secret({"authorization": f"bearer {SECRET}".encode()}, SECRET)
    assert not auth.verify_shared_secret({"Authorization": f"Basic {SECRET}"}, SECRET)
    assert not auth.verify_shared_secret({"Authorization": "Bearer wrong"}, SECRET)
    assert not auth.verify_shared_secret({"X-Modelscreen-Secret": "wrong"}, SECRET)
    assert not auth.verify_shared_secret({}, SECRET)
    assert not auth.verify_shared_secret({"Authorization": "Bearer "}, "")


def test_comparisons_are_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    auth.verify_huggingface({"X-Webhook-Secret": SECRET}, SECRET)
    auth.verify_harbor({"Authorization": SECRET}, SECRET)
    auth.verify_shared_secret({"Authorization": f"Bearer {SECRET}"}, SECRET)
    auth.verify_nexus(BODY, {"X-Nexus-Webhook-Signature": auth.nexus_signature(BODY, SECRET)}, SECRET)
    assert len(calls) == 4
