"""Media tokens as pure functions: bound to book and subject, expiring, tamper-evident."""
from __future__ import annotations

import pytest

from streaming import tokens

KEY = "khoa-bi-mat-thu-nghiem"


def test_round_trip_and_binding():
    token = tokens.issue(KEY, book_id=7, subject=tokens.subject_for(3), ttl_s=60, now=1000)
    claims = tokens.verify(KEY, token, book_id=7, now=1059)
    assert (claims.book_id, claims.user_id, claims.expires) == (7, 3, 1060)
    public = tokens.verify(KEY, tokens.issue(KEY, book_id=7, subject=tokens.PUBLIC, ttl_s=60, now=0), book_id=7, now=1)
    assert public.user_id is None


@pytest.mark.parametrize("mutate, reason, status", [
    (lambda t: None, "missing", 401),
    (lambda t: "", "missing", 401),
    (lambda t: t.replace(".", ""), "malformed", 403),
    (lambda t: t + ".x", "malformed", 403),
    (lambda t: "A" + t[1:] if t[0] != "A" else "B" + t[1:], "bad-signature", 403),
    (lambda t: t.split(".")[0] + ".!!!", "bad-signature", 403),
])
def test_refusals(mutate, reason, status):
    token = tokens.issue(KEY, book_id=7, subject="u3", ttl_s=60, now=1000)
    with pytest.raises(tokens.TokenError) as err:
        tokens.verify(KEY, mutate(token), book_id=7, now=1001)
    assert (err.value.reason, err.value.status) == (reason, status)


def test_expired_other_book_other_key():
    token = tokens.issue(KEY, book_id=7, subject="u3", ttl_s=60, now=1000)
    for kwargs, reason in (({"book_id": 7, "now": 1061}, "expired"), ({"book_id": 8, "now": 1001}, "wrong-book")):
        with pytest.raises(tokens.TokenError) as err:
            tokens.verify(KEY, token, **kwargs)
        assert err.value.reason == reason
    with pytest.raises(tokens.TokenError) as err:
        tokens.verify("another key", token, book_id=7, now=1001)
    assert err.value.reason == "bad-signature"
    # a forged payload naming another reader does not carry a valid signature
    forged = tokens._b64(b"7:u4:99999") + "." + token.split(".")[1]
    with pytest.raises(tokens.TokenError):
        tokens.verify(KEY, forged, book_id=7, now=1001)


def test_key_is_required():
    with pytest.raises(ValueError):
        tokens.issue("", book_id=1, subject="p", ttl_s=1)
