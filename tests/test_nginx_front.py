"""The nginx front's configuration (deploy/nginx.conf, rendered by manage.py nginx_conf) and the
client address mlserve takes from it."""

import subprocess

import pytest
from django.core.management import call_command

from mlserve import front


def test_the_rendered_config_holds_the_limits_and_the_socket(settings, tmp_path):
    settings.MLSERVE_MAX_UPLOAD_SIZE = 5_000_000
    text = front.render_nginx_conf(
        front.nginx_context(listen="127.0.0.1:9999", upstreams=["unix:/srv/x/run/gunicorn.sock"], directory=tmp_path)
    )
    assert "listen 127.0.0.1:9999;" in text
    assert "server unix:/srv/x/run/gunicorn.sock fail_timeout=0;" in text
    assert f"client_max_body_size {5_000_000 + 1024 * 1024};" in text
    assert "proxy_request_buffering on;" in text and "client_body_timeout 10s;" in text
    assert f"client_body_temp_path {tmp_path}/client_body;" in text and f"pid {tmp_path}/nginx.pid;" in text
    assert "proxy_set_header X-Real-IP $remote_addr;" in text
    assert "{%" not in text and "{{" not in text


def test_several_upstreams_for_a_cluster(tmp_path):
    text = front.render_nginx_conf(front.nginx_context(listen="80", upstreams=["10.0.0.1:8000", "10.0.0.2:8000"], directory=tmp_path))
    assert "server 10.0.0.1:8000 fail_timeout=0;" in text and "server 10.0.0.2:8000 fail_timeout=0;" in text


@pytest.mark.skipif(front.nginx_binary() is None, reason="nginx is not installed")
def test_nginx_accepts_the_written_config(tmp_path, settings):
    config = front.write_nginx_conf(listen="127.0.0.1:9", directory=tmp_path / "nginx")
    result = subprocess.run(
        [front.nginx_binary(), "-t", "-e", "stderr", "-p", str(config.parent), "-c", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert all((config.parent / name).is_dir() for name in front.TEMP_DIRS)


def test_the_command_prints_it(capsys, db):
    call_command("nginx_conf", "--listen", "127.0.0.1:8123")
    assert "listen 127.0.0.1:8123;" in capsys.readouterr().out


def echo_address(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ.get("REMOTE_ADDR", "").encode()]


@pytest.mark.parametrize(
    "remote, header, seen",
    [
        ("", "203.0.113.7", "203.0.113.7"),  # over the Unix socket: nginx's X-Real-IP
        ("198.51.100.2", "203.0.113.7", "198.51.100.2"),  # over TCP: a client cannot choose its address
        ("198.51.100.2", None, "198.51.100.2"),
    ],
)
def test_the_client_address_comes_from_nginx_only_over_the_socket(remote, header, seen):
    environ = {"REMOTE_ADDR": remote, **({"HTTP_X_REAL_IP": header} if header else {})}
    body = b"".join(front.ClientAddressFromFront(echo_address)(environ, lambda status, headers: None))
    assert body.decode() == seen
