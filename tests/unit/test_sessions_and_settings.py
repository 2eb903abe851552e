"""Session tokens every service can verify, and the settings that guard them."""

import pytest
from pydantic import ValidationError

from shared.sessions import issue_session_token, read_session_token
from shared.settings import DEFAULT_SECRET, Settings

SETTINGS = Settings(secret_key="one-secret")


def test_a_session_token_names_the_user_it_was_issued_for():
    session = read_session_token(SETTINGS, issue_session_token(SETTINGS, "U-1", "alex@acme.example"))
    assert (session.user_id, session.email) == ("U-1", "alex@acme.example")


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


def test_an_expired_token_is_refused_with_a_request_to_log_in_again():
    token = issue_session_token(SETTINGS, "U-1", "alex@acme.example")
    expired = SETTINGS.model_copy(update={"session_max_age_seconds": -1})
    with pytest.raises(PermissionError, match="expired"):
        read_session_token(expired, token)


def test_production_refuses_to_start_with_the_default_secret():
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=DEFAULT_SECRET)


def test_each_service_uses_its_own_database_on_the_configured_server():
    settings = Settings(database_url="postgresql://app:pw@db.internal:5432/postgres?sslmode=require")
    assert settings.service_database_url("claims") == "postgresql://app:pw@db.internal:5432/claims?sslmode=require"


def test_production_refuses_a_short_secret():
    with pytest.raises(ValidationError, match="shorter than 32 characters"):
        Settings(environment="production", secret_key="tiny")


def test_the_session_cookie_is_http_only_same_site_and_secure_over_https():
    from fastapi import Response

    from shared.sessions import set_session_cookie

    response = Response()
    set_session_cookie(response, SETTINGS, "token-value", "https://claims.example")
    cookie = response.headers["set-cookie"]
    for attribute in ("itb_session=token-value", "HttpOnly", "SameSite=lax", "Secure"):
        assert attribute in cookie
