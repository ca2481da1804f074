"""Media tokens as pure functions: bound to book, subject (login and session version, or app
credential) and use, expiring, tamper-evident."""
from __future__ import annotations

import pytest

from streaming import tokens

KEY = "khoa-bi-mat-thu-nghiem"


def test_round_trip_and_binding():
    token = tokens.issue(KEY, book_id=7, subject=tokens.subject_for(3, 5), ttl_s=60, now=1000)
    claims = tokens.verify(KEY, token, book_id=7, now=1059)
    assert (claims.book_id, claims.user_id, claims.session_version, claims.use, claims.expires) == \
        (7, 3, 5, tokens.STREAM, 1060)
    public = tokens.verify(KEY, tokens.issue(KEY, book_id=7, subject=tokens.PUBLIC, ttl_s=60, now=0), book_id=7, now=1)
    assert public.user_id is None and public.app_id is None
    app = tokens.verify(KEY, tokens.issue(KEY, book_id=7, subject=tokens.app_subject(12), use=tokens.APP,
                                          ttl_s=60, now=0), book_id=7, now=1)
    assert (app.app_id, app.user_id, app.use) == (12, None, tokens.APP)


def test_a_readers_token_must_name_the_session_version():
    """Issue 14.1: a token naming a bare account id (the old bearer token) cannot be made."""
    with pytest.raises(ValueError):
        tokens.subject_for(3)
    with pytest.raises(ValueError):
        tokens.issue(KEY, book_id=7, subject="u3", ttl_s=60)


@pytest.mark.parametrize("mutate, reason, status", [
    (lambda t: None, "missing", 401),
    (lambda t: "", "missing", 401),
    (lambda t: t.replace(".", ""), "malformed", 403),
    (lambda t: t + ".x", "malformed", 403),
    (lambda t: "A" + t[1:] if t[0] != "A" else "B" + t[1:], "bad-signature", 403),
    (lambda t: t.split(".")[0] + ".!!!", "bad-signature", 403),
])
def test_refusals(mutate, reason, status):
    token = tokens.issue(KEY, book_id=7, subject="u3.1", ttl_s=60, now=1000)
    with pytest.raises(tokens.TokenError) as err:
        tokens.verify(KEY, mutate(token), book_id=7, now=1001)
    assert (err.value.reason, err.value.status) == (reason, status)


def test_expired_other_book_other_use_other_key():
    token = tokens.issue(KEY, book_id=7, subject="u3.1", ttl_s=60, now=1000)
    for kwargs, reason in (({"book_id": 7, "now": 1061}, "expired"), ({"book_id": 8, "now": 1001}, "wrong-book"),
                           ({"book_id": 7, "now": 1001, "uses": (tokens.DOWNLOAD,)}, "wrong-use")):
        with pytest.raises(tokens.TokenError) as err:
            tokens.verify(KEY, token, **kwargs)
        assert err.value.reason == reason
    with pytest.raises(tokens.TokenError) as err:
        tokens.verify("another key", token, book_id=7, now=1001)
    assert err.value.reason == "bad-signature"
    # a forged payload naming another reader, session version or use does not carry a valid signature
    for forged_payload in (b"7:u4.1:s:99999", b"7:u3.2:s:99999", b"7:u3.1:d:99999"):
        forged = tokens._b64(forged_payload) + "." + token.split(".")[1]
        with pytest.raises(tokens.TokenError):
            tokens.verify(KEY, forged, book_id=7, now=1001)


def test_old_bearer_tokens_no_longer_verify():
    """Issue 14.1: v1 tokens (book:u<id>:expires, no session version) stop working at upgrade."""
    import hashlib
    import hmac
    payload = b"7:u3:99999999999"
    key = hmac.new(KEY.encode(), b"sachnoi/media-token/v1", hashlib.sha256).digest()
    old = tokens._b64(payload) + "." + tokens._b64(hmac.new(key, payload, hashlib.sha256).digest()[:20])
    with pytest.raises(tokens.TokenError):
        tokens.verify(KEY, old, book_id=7, now=1001)


def test_key_is_required():
    with pytest.raises(ValueError):
        tokens.issue("", book_id=1, subject="p", ttl_s=1)
