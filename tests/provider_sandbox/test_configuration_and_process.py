"""Start-up: configuration from the environment, and the real `serve` process on loopback."""

from __future__ import annotations

import json
import urllib.request

import pytest

from provider_sandbox.cli import main
from provider_sandbox.settings import ConfigurationError, SandboxSettings
from tests.processes import ServiceProcess, free_port

_VARIABLES = (
    "PROVIDER_SANDBOX_HOST",
    "PROVIDER_SANDBOX_PORT",
    "SANDBOX_EMAIL_TOKEN",
    "SANDBOX_SMS_TOKEN",
    "SANDBOX_PUSH_TOKEN",
)


def test_the_defaults_serve_loopback_with_the_documented_tokens():
    settings = SandboxSettings.from_environ({})

    assert (settings.host, settings.port) == ("127.0.0.1", 8082)
    assert settings.token_for("email") == "dev-email-token"
    assert settings.token_for("sms") == "dev-sms-token"
    assert settings.token_for("push") is None


def test_empty_values_take_the_defaults():
    settings = SandboxSettings.from_environ(dict.fromkeys(_VARIABLES, ""))

    assert settings == SandboxSettings()


def test_every_variable_is_read():
    settings = SandboxSettings.from_environ(
        {
            "PROVIDER_SANDBOX_HOST": "::1",
            "PROVIDER_SANDBOX_PORT": "9000",
            "SANDBOX_EMAIL_TOKEN": "e-token",
            "SANDBOX_SMS_TOKEN": "s-token",
            "SANDBOX_PUSH_TOKEN": "p-token",
        }
    )

    assert (settings.host, settings.port) == ("::1", 9000)
    assert [settings.token_for(c) for c in ("email", "sms", "push")] == ["e-token", "s-token", "p-token"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PROVIDER_SANDBOX_PORT", "eighty"),
        ("PROVIDER_SANDBOX_PORT", "0"),
        ("PROVIDER_SANDBOX_PORT", "70000"),
        ("PROVIDER_SANDBOX_HOST", "local host"),
        ("SANDBOX_EMAIL_TOKEN", "has a space"),
        ("SANDBOX_SMS_TOKEN", "caf\u00e9"),
        ("SANDBOX_PUSH_TOKEN", "x" * 513),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(variable, value):
    with pytest.raises(ConfigurationError, match=f"^{variable}:"):
        SandboxSettings.from_environ({variable: value})


def test_a_bad_value_exits_2_with_one_line_that_does_not_echo_a_token(monkeypatch, capsys):
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SANDBOX_SMS_TOKEN", "secret with spaces")

    with pytest.raises(SystemExit) as exited:
        main(["serve"])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "SANDBOX_SMS_TOKEN" in err
    assert "secret" not in err


def test_tokens_are_not_shown_in_the_settings_repr():
    settings = SandboxSettings(email_token="e-secret", sms_token="s-secret", push_token="p-secret")

    assert "secret" not in repr(settings)


def _call(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> dict:
    method = "POST" if data else "GET"
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our loopback server
        return json.loads(response.read())


@pytest.mark.slow
def test_serve_records_logs_without_personal_data_and_stops_on_sigterm(tmp_path):
    port = free_port()
    environment = {
        "PROVIDER_SANDBOX_HOST": "127.0.0.1",
        "PROVIDER_SANDBOX_PORT": str(port),
        "SANDBOX_EMAIL_TOKEN": "process-email-token",
        "SANDBOX_SMS_TOKEN": "process-sms-token",
        "SANDBOX_PUSH_TOKEN": "process-push-token",
    }
    sandbox = ServiceProcess("provider_sandbox", environment, port, tmp_path / "sandbox.log")
    sandbox.start()
    try:
        _call(
            f"{sandbox.url}/dev/home-test/sms-delivery-service",
            data=json.dumps({"recipient": "+447451277972", "message": "Kit placed for Ada"}).encode(),
            headers={"Authorization": "Bearer process-sms-token", "Content-Type": "application/json"},
        )
        _call(
            f"{sandbox.url}/push/ada-orders",
            data=b"Push for Ada",
            headers={"Authorization": "Bearer process-push-token", "Title": "Ada title"},
        )
        recorded = _call(f"{sandbox.url}/_sandbox/messages")
    finally:
        exit_code = sandbox.stop()

    assert exit_code == 0
    assert [m["channel"] for m in recorded["data"]] == ["sms", "push"]
    log = sandbox.log_path.read_text()
    assert "POST /dev/home-test/sms-delivery-service 200 accepted" in log
    assert "POST /push/{topic} 200 accepted" in log
    for private in ("Ada", "447451277972", "ada-orders", "process-sms-token", "process-push-token"):
        assert private not in log
