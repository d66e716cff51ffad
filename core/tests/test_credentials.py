"""core.credentials on its own: kinds by prefix, issue, resolve, revoke, the acting user."""

import pytest
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import ApiToken
from core import credentials
from core.errors import ApplicationError, NameTaken
from deployments.models import Deployment, DeploymentKey


def test_each_key_is_of_the_kind_its_prefix_names():
    assert credentials.kind_of("mls_abc") is ApiToken
    assert credentials.kind_of("mlsd_abc") is DeploymentKey
    assert credentials.kind_of("ghp_abc") is None


def test_a_kind_whose_prefix_overlaps_another_is_refused():
    class Clash:
        KEY_PREFIX = "mls"

    with pytest.raises(ValueError, match="overlaps"):
        credentials.register(Clash)


def test_an_issued_key_is_stored_only_as_its_hash_and_resolves_to_its_credential(owner):
    token, plain = credentials.issue(ApiToken, name="laptop", user=owner)
    assert plain.startswith("mls_") and token.prefix == plain[:8]
    assert token.key_hash == credentials.hash_key(plain) and plain not in token.key_hash
    assert credentials.resolve(plain) == token
    user, found = credentials.authenticate(plain)
    assert user == owner and found == token


def test_a_name_is_required_unique_per_owner_and_bounded(owner):
    credentials.issue(ApiToken, name="ci", user=owner)
    with pytest.raises(NameTaken, match="ci"):
        credentials.issue(ApiToken, name="ci", user=owner)
    with pytest.raises(ApplicationError, match="needs a name"):
        credentials.issue(ApiToken, name="  ", user=owner)
    with pytest.raises(ApplicationError) as too_long:
        credentials.issue(ApiToken, name="n" * 101, user=owner)
    assert too_long.value.code == "too_long"


def test_a_revoked_key_no_longer_authenticates_even_from_the_cache(owner, django_capture_on_commit_callbacks):
    token, plain = credentials.issue(ApiToken, name="job", user=owner)
    assert credentials.resolve(plain) == token  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        credentials.revoke(token)
    assert credentials.resolve(plain) is None
    with pytest.raises(AuthenticationFailed, match="Invalid or revoked token"):
        credentials.authenticate(plain)


def test_a_deployment_key_acts_as_the_deployments_owner_and_fails_in_its_own_words(iris, owner):
    deployment = Deployment.objects.get(owner=owner, name="iris")
    key, plain = credentials.issue(DeploymentKey, name="partner", deployment=deployment)
    user, found = credentials.authenticate(plain)
    assert user == owner and found == key and plain.startswith("mlsd_") and key.prefix == plain[:9]
    with pytest.raises(AuthenticationFailed, match="deployment key"):
        credentials.authenticate("mlsd_" + "x" * 43)


def test_a_switched_off_user_has_no_working_key(owner):
    _token, plain = credentials.issue(ApiToken, name="old", user=owner)
    owner.is_active = False
    owner.save()
    credentials.forget_all()
    assert credentials.resolve(plain) is None


def test_the_authorization_header_takes_token_or_bearer_and_ignores_other_schemes():
    assert credentials.parse_authorization(b"Token mls_x") == "mls_x"
    assert credentials.parse_authorization(b"Bearer mls_x") == "mls_x"
    assert credentials.parse_authorization(b"Basic dXNlcjpwYXNz") is None
    assert credentials.parse_authorization(b"") is None
    with pytest.raises(AuthenticationFailed, match="Malformed"):
        credentials.parse_authorization(b"Token a b")
    with pytest.raises(AuthenticationFailed, match="characters"):
        credentials.parse_authorization(b"Token \xff\xfe")
