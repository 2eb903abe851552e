"""Session tokens every service can verify and only the claims service can sign, the keys behind them and the
other signed tokens, and the settings that guard them."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Response
from itsdangerous import URLSafeSerializer
from pydantic import ValidationError

from shared import keys
from shared.csrf import csrf_token, csrf_token_is_valid
from shared.invite_links import read_invite_token
from shared.password_links import password_link_token, read_password_link_token
from shared.sessions import delete_session_cookie, issue_session_token, read_session_token, set_session_cookie
from shared.settings import DEFAULT_SECRET, Settings

SETTINGS = Settings(secret_key="one-secret")
PAIR = keys.new_production_keys()
PRODUCTION = {"environment": "production", "secret_key": PAIR["SECRET_KEY"]}


def test_a_session_token_names_the_user_it_was_issued_for_with_its_issue_time_and_session_version():
    now = datetime.now(UTC).replace(microsecond=0)
    token = issue_session_token(SETTINGS, "U-1", "alex@acme.example", session_version=3, now=now)
    session = read_session_token(SETTINGS, token)
    assert (session.user_id, session.email, session.issued_at, session.session_version) == (
        "U-1",
        "alex@acme.example",
        now,
        3,
    )


def test_a_session_token_made_the_way_tests_make_them_carries_version_zero():
    assert read_session_token(SETTINGS, issue_session_token(SETTINGS, "U-1", "alex@acme.example")).session_version == 0


def test_a_token_altered_by_one_character_is_refused():
    token = issue_session_token(SETTINGS, "U-1", "alex@acme.example")
    # The first character: every bit of it counts (a last base64 character may carry unused bits).
    altered = ("A" if token[0] != "A" else "B") + token[1:]
    with pytest.raises(PermissionError, match="not valid"):
        read_session_token(SETTINGS, altered)


def test_a_token_signed_with_another_secret_is_refused():
    token = issue_session_token(Settings(secret_key="another-secret"), "U-1", "alex@acme.example")
    with pytest.raises(PermissionError, match="not valid"):
        read_session_token(SETTINGS, token)


def test_a_session_signed_with_the_shared_secret_the_way_sessions_once_were_is_refused():
    # Every service holds SECRET_KEY, so a session signed with it could come from any of them.
    forged = URLSafeSerializer("one-secret", salt="itb.session.v1").dumps({"sub": "U-1", "email": "alex@acme.example"})
    with pytest.raises(PermissionError, match="not valid"):
        read_session_token(SETTINGS, forged)


def test_an_expired_token_is_refused_with_a_request_to_log_in_again():
    long_ago = datetime.now(UTC) - timedelta(seconds=SETTINGS.session_max_age_seconds + 60)
    token = issue_session_token(SETTINGS, "U-1", "alex@acme.example", now=long_ago)
    with pytest.raises(PermissionError, match="expired"):
        read_session_token(SETTINGS, token)


def test_a_session_signed_with_the_previous_key_is_accepted_during_a_rotation_and_refused_after_it():
    before = Settings(secret_key="one-secret")
    token = issue_session_token(before, "U-1", "alex@acme.example")
    rotating = Settings(secret_key="the next secret", secret_key_previous="one-secret")
    assert read_session_token(rotating, token).user_id == "U-1"
    assert read_session_token(rotating, issue_session_token(rotating, "U-2", "sam@acme.example")).user_id == "U-2"
    with pytest.raises(PermissionError, match="not valid"):
        read_session_token(Settings(secret_key="the next secret"), token)


def test_a_configured_previous_public_key_keeps_its_sessions_valid_during_a_rotation():
    old = keys.new_production_keys()
    token = issue_session_token(Settings(session_private_key=old["SESSION_PRIVATE_KEY"]), "U-1", "alex@acme.example")
    rotating = Settings(
        session_private_key=PAIR["SESSION_PRIVATE_KEY"],
        session_public_key=PAIR["SESSION_PUBLIC_KEY"],
        session_public_key_previous=old["SESSION_PUBLIC_KEY"],
    )
    assert read_session_token(rotating, token).user_id == "U-1"
    with pytest.raises(PermissionError, match="not valid"):
        read_session_token(Settings(session_public_key=PAIR["SESSION_PUBLIC_KEY"]), token)


def test_a_service_holding_only_the_public_key_verifies_sessions_but_cannot_sign_one():
    claims = Settings(service_name="claims", session_private_key=PAIR["SESSION_PRIVATE_KEY"])
    periods = Settings(service_name="periods", session_public_key=PAIR["SESSION_PUBLIC_KEY"])
    assert read_session_token(periods, issue_session_token(claims, "U-1", "alex@acme.example")).user_id == "U-1"
    with pytest.raises(PermissionError, match="Only the claims service signs sessions"):
        issue_session_token(periods, "U-1", "alex@acme.example")


def test_each_purpose_has_its_own_key_so_a_token_for_one_is_refused_for_another():
    password_token = password_link_token(SETTINGS, "request-1", "alex@acme.example")
    with pytest.raises(PermissionError):
        read_invite_token(SETTINGS, password_token)
    assert len({bytes(keys.purpose_key("one-secret", purpose)) for purpose in ("a", "b", "c")}) == 3


def test_links_and_csrf_tokens_made_before_a_rotation_are_still_accepted():
    before = Settings(secret_key="one-secret")
    rotating = Settings(secret_key="the next secret", secret_key_previous="one-secret")
    assert read_password_link_token(rotating, password_link_token(before, "request-1", "a@acme.example")).email
    assert csrf_token_is_valid(rotating, csrf_token(before, "logout:U-1"), "logout:U-1")
    assert not csrf_token_is_valid(Settings(secret_key="the next secret"), csrf_token(before, "x"), "x")


def test_production_refuses_to_start_with_the_default_secret():
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=DEFAULT_SECRET, session_public_key=PAIR["SESSION_PUBLIC_KEY"])


def test_production_refuses_a_short_secret():
    with pytest.raises(ValidationError, match="shorter than 32 characters"):
        Settings(environment="production", secret_key="tiny", session_public_key=PAIR["SESSION_PUBLIC_KEY"])


def test_production_refuses_a_default_previous_secret():
    with pytest.raises(ValidationError, match="SECRET_KEY_PREVIOUS"):
        Settings(**PRODUCTION, secret_key_previous=DEFAULT_SECRET, session_public_key=PAIR["SESSION_PUBLIC_KEY"])


def test_production_refuses_to_start_without_the_public_key_saying_what_to_set():
    with pytest.raises(ValidationError, match=r"Set SESSION_PUBLIC_KEY on every service \(`python -m shared.keys`"):
        Settings(**PRODUCTION, service_name="periods")


def test_the_claims_service_in_production_refuses_to_start_without_its_private_key():
    with pytest.raises(ValidationError, match="Set SESSION_PRIVATE_KEY on the claims service only"):
        Settings(**PRODUCTION, service_name="claims", session_public_key=PAIR["SESSION_PUBLIC_KEY"])


def test_production_starts_with_the_keys_python_m_shared_keys_prints():
    claims = Settings(environment="production", service_name="claims", **{name.lower(): PAIR[name] for name in PAIR})
    periods = Settings(**PRODUCTION, service_name="periods", session_public_key=PAIR["SESSION_PUBLIC_KEY"])
    assert read_session_token(periods, issue_session_token(claims, "U-1", "a@acme.example")).user_id == "U-1"


def test_a_public_key_that_is_not_the_private_keys_half_is_refused_at_start():
    other = keys.key_text(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ValidationError, match="not the public half"):
        Settings(session_private_key=PAIR["SESSION_PRIVATE_KEY"], session_public_key=other)


def test_a_key_that_is_not_a_key_is_refused_at_start_saying_how_to_make_one():
    with pytest.raises(ValidationError, match=r"python -m shared\.keys"):
        Settings(session_public_key="not-a-key")


def test_each_service_uses_its_own_database_on_the_configured_server():
    settings = Settings(database_url="postgresql://app:pw@db.internal:5432/postgres?sslmode=require")
    assert settings.service_database_url("claims") == "postgresql://app:pw@db.internal:5432/claims?sslmode=require"


def test_under_https_the_session_cookie_is_host_prefixed_http_only_same_site_and_secure():
    response = Response()
    set_session_cookie(response, SETTINGS, "token-value", "https://claims.example")
    cookie = response.headers["set-cookie"]
    for attribute in ("__Host-itb_session=token-value", "HttpOnly", "SameSite=lax", "Secure", "Path=/"):
        assert attribute in cookie
    assert "Domain" not in cookie


def test_under_plain_http_the_session_cookie_keeps_its_plain_name_so_local_runs_work():
    response = Response()
    set_session_cookie(response, SETTINGS, "token-value", "http://127.0.0.1:8084")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("itb_session=token-value") and "Secure" not in cookie


def test_logging_out_under_https_removes_the_host_prefixed_cookie():
    response = Response()
    delete_session_cookie(response, "https://claims.example")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-itb_session=") and "Max-Age=0" in cookie and "Secure" in cookie
