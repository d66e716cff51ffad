"""Token, key and deployment lookups are cached per process; a change announced by any
process of this machine empties every process's caches at once (core/ttl_cache.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import token_create
from core import ttl_cache
from tests.subprocess_env import child_env

ROOT = Path(__file__).resolve().parents[2]

REVOKE_ELSEWHERE = """
import django, sys
django.setup()
from accounts.models import ApiToken
from accounts.services import token_revoke
token_revoke(token=ApiToken.objects.get(pk=int(sys.argv[1])))
"""


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.django_db(transaction=True)
def test_a_token_revoked_by_another_process_stops_here_at_once(owner, settings, monkeypatch):
    settings.MLSERVE_AUTH_CACHE_SECONDS = 300
    # With Redis, every lookup reads the generation: the owner's creation (announced) is seen at the first one.
    monkeypatch.setattr(ttl_cache, "CHANGES_REDIS_CHECK_SECONDS", 0)
    monkeypatch.setattr(ttl_cache, "_next_redis_check", 0.0)
    quiet, quiet_key = token_create(user=owner, name="deleted-behind-our-back")
    loud, loud_key = token_create(user=owner, name="revoked-elsewhere")
    assert client_for(quiet_key).get("/api/v1/models").status_code == 200
    assert client_for(loud_key).get("/api/v1/models").status_code == 200
    # A row deleted without the service: nobody announced it, so the cached lookup still answers.
    ApiToken.objects.filter(pk=quiet.pk).delete()
    assert client_for(quiet_key).get("/api/v1/models").status_code == 200
    # The service in another process revokes and announces: both lookups are dropped here.
    subprocess.run([sys.executable, "-c", REVOKE_ELSEWHERE, str(loud.pk)], cwd=ROOT, env=child_env(), check=True, timeout=120)
    assert client_for(loud_key).get("/api/v1/models").status_code == 401
    assert client_for(quiet_key).get("/api/v1/models").status_code == 401


def test_switching_a_user_off_drops_the_cached_lookups(owner, settings, django_capture_on_commit_callbacks):
    settings.MLSERVE_AUTH_CACHE_SECONDS = 300
    _, key = token_create(user=owner, name="laptop")
    assert client_for(key).get("/api/v1/models").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        owner.is_active = False
        owner.save()
    assert client_for(key).get("/api/v1/models").status_code == 401


def test_a_login_does_not_announce(owner, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        owner.save(update_fields=["last_login"])
    assert callbacks == []


def test_another_process_appending_to_the_changes_file_empties_this_ones_caches(settings):
    cache = ttl_cache.TtlCache()
    cache.get("warm-up")  # this process has looked at the file
    cache.set("k", 1, 300)
    assert cache.get("k") == 1
    with open(Path(settings.MLSERVE_DATA_DIR) / ttl_cache.CHANGES_FILE, "ab") as f:
        f.write(b".")  # what announce_change() does in another process
    assert cache.get("k") is None


def test_the_changes_file_starts_over_when_large_and_each_change_still_shows(settings, monkeypatch):
    monkeypatch.setattr(ttl_cache, "CHANGES_FILE_MAX_BYTES", 4)
    path = Path(settings.MLSERVE_DATA_DIR) / ttl_cache.CHANGES_FILE
    stamps = []
    for _ in range(12):
        ttl_cache.announce_change()
        st = path.stat()
        stamps.append((st.st_ino, st.st_size))
    assert all(a != b for a, b in zip(stamps, stamps[1:]))  # what each process compares
    assert max(size for _, size in stamps) <= 4
    assert len({ino for ino, _ in stamps}) > 1  # it did start over


def test_a_change_that_cannot_be_announced_is_still_saved_and_seen_here(owner, settings, caplog, tmp_path):
    settings.MLSERVE_AUTH_CACHE_SECONDS = 300
    token, key = token_create(user=owner, name="laptop")
    assert client_for(key).get("/api/v1/models").status_code == 200
    settings.MLSERVE_DATA_DIR = tmp_path / "gone"  # the file cannot be written there
    from accounts.services import token_revoke

    token_revoke(token=token)
    ttl_cache.announce_change()  # what the commit hook runs
    assert "could not announce a change" in caplog.text
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert client_for(key).get("/api/v1/models").status_code == 401


@pytest.fixture
def shared_redis(settings, monkeypatch):
    """The Redis-held generation counter, on the Django cache as REDIS_URL configures it (the
    suite's local cache stands in for Redis when the suite runs without it), read at every lookup."""
    if not settings.REDIS_URL:
        settings.REDIS_URL = "redis://stand-in"  # only its presence is read: the cache below is the shared store
    monkeypatch.setattr(ttl_cache, "CHANGES_REDIS_CHECK_SECONDS", 0)
    monkeypatch.setattr(ttl_cache, "_next_redis_check", 0.0)
    return ttl_cache.shared_cache


def test_a_change_announced_on_another_node_empties_this_processes_caches(shared_redis):
    cache = ttl_cache.TtlCache()
    cache.get("warm-up")  # this process has read the generation
    cache.set("k", 1, 300)
    assert cache.get("k") == 1
    ttl_cache._announce_in_redis()  # announce_change() on another node: this machine's file is untouched
    assert cache.get("k") is None


def test_announcing_a_change_increments_the_shared_generation(shared_redis):
    ttl_cache.announce_change()
    before = shared_redis.get(ttl_cache.CHANGES_REDIS_KEY)
    ttl_cache.announce_change()
    ttl_cache.announce_change()
    assert shared_redis.get(ttl_cache.CHANGES_REDIS_KEY) == before + 2


def test_a_redis_that_does_not_answer_leaves_lookups_working_on_their_ttl(shared_redis, monkeypatch, caplog):
    cache = ttl_cache.TtlCache()
    cache.get("warm-up")
    cache.set("k", 1, 300)

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("Redis is down")

            return fail

    monkeypatch.setattr(ttl_cache, "_last_redis_warning", 0.0)
    monkeypatch.setattr(ttl_cache, "shared_cache", Down())
    assert cache.get("k") == 1
    ttl_cache.announce_change()  # the change is still seen in this process
    assert cache.get("k") is None
    assert "could not read the cache generation in Redis" in caplog.text
