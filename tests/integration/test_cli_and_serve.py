"""The ``cpo`` command as a newcomer uses it: serve on the embedded default, tokens, admins, restart."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from cpo.db.migrate import head_revisions
from tests.conftest import SITE
from tests.platform import Platform, free_port, platform_env, run_cpo


def test_help_lists_every_command() -> None:
    result = run_cpo(["--help"], platform_env(Path("/nonexistent"), 0))
    assert result.returncode == 0
    for command in ("serve", "db", "admin", "tokens"):
        assert command in result.stdout


def test_serve_on_embedded_postgres_keeps_data_across_a_restart(tmp_path: Path) -> None:
    env = platform_env(tmp_path / "var", free_port())
    first = Platform(env, tmp_path / "serve-1.log")
    try:
        first.wait_ready()
        banner = (tmp_path / "serve-1.log").read_text()
        assert "/ui/" in banner and "/api/docs" in banner and "ws://localhost:" in banner and "/ocpp/" in banner

        token = run_cpo(["tokens", "create", "--role", "tenant_admin"], env)
        assert token.returncode == 0, token.stderr
        headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
        created = httpx.post(first.url + "/api/v1/sites", json=SITE, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        admin = run_cpo(
            ["admin", "create-user", "--email", "first@example.com", "--password-stdin"],
            env,
            stdin="a long passphrase\n",
        )
        assert admin.returncode == 0 and "platform_admin" in admin.stdout, admin.stderr
        second_admin = run_cpo(
            ["admin", "create-user", "--email", "second@example.com", "--password-stdin"],
            env,
            stdin="another passphrase\n",
        )
        assert "tenant_admin" in second_admin.stdout, "only the very first account defaults to platform admin"
        by_name = run_cpo(["tokens", "create", "--role", "read_only", "--tenant", "Default"], env)
        assert by_name.returncode == 0, by_name.stderr
        reader = {"Authorization": f"Bearer {by_name.stdout.strip()}"}
        assert len(httpx.get(first.url + "/api/v1/sites", headers=reader, timeout=10).json()) == 1
        current = run_cpo(["db", "current"], env)
        heads = ", ".join(sorted(head_revisions()))
        assert current.returncode == 0 and f"current: {heads}" in current.stdout
    finally:
        code = first.stop()
    log = (tmp_path / "serve-1.log").read_text()
    assert code == 0, f"SIGTERM should stop cleanly:\n{log[-3000:]}"
    requests = [json.loads(line) for line in log.splitlines() if '"logger": "cpo.access"' in line]
    assert requests and {"method", "route", "status", "ms"} <= set(requests[0])
    assert "first@example.com" not in log and token.stdout.strip() not in log, "no personal data or secrets in logs"

    second = Platform(env, tmp_path / "serve-2.log")
    try:
        second.wait_ready()
        sites = httpx.get(second.url + "/api/v1/sites", headers=headers, timeout=10).json()
        assert [s["name"] for s in sites] == [SITE["name"]]
        browser = httpx.Client(base_url=second.url, timeout=10)
        form = browser.get("/ui/login").text
        csrf = form.split('name="csrf" value="')[1].split('"')[0]
        login = browser.post(
            "/ui/login",
            data={"email": "first@example.com", "password": "a long passphrase", "next": "/ui/", "csrf": csrf},
        )
        assert login.status_code in (302, 303) and "cpo_session" in login.headers.get("set-cookie", "")
    finally:
        assert second.stop() == 0
    assert "first@example.com" not in (tmp_path / "serve-2.log").read_text(), "sign-ins log no e-mail"


def test_bad_settings_and_bad_input_are_clear_errors(tmp_path: Path) -> None:
    env = platform_env(tmp_path / "var", free_port(), {"CPO_PORT": "eighty"})
    result = run_cpo(["db", "current"], env)
    assert result.returncode == 2 and "CPO_PORT" in result.stderr
    env = platform_env(tmp_path / "var", free_port())
    weak = run_cpo(["admin", "create-user", "--email", "x@example.com", "--password-stdin"], env, stdin="short\n")
    assert weak.returncode == 2 and "password" in weak.stderr
    unknown = run_cpo(["tokens", "create", "--role", "read_only", "--tenant", "nobody"], env)
    assert unknown.returncode == 2 and "nobody" in unknown.stderr
