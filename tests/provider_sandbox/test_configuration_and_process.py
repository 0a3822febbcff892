"""Start-up: configuration from the environment, and the real `serve` process on loopback."""

from __future__ import annotations

import json
import urllib.request

import pytest

from provider_sandbox.cli import main
from provider_sandbox.settings import VARIABLES, ConfigurationError, SandboxSettings
from tests.processes import ServiceProcess, free_port
from tests.provider_sandbox.receivers import verify

_VARIABLES = VARIABLES


def test_the_defaults_serve_loopback_with_the_documented_tokens():
    settings = SandboxSettings.from_environ({})

    assert (settings.host, settings.port) == ("127.0.0.1", 8082)
    assert settings.token_for("email") == "dev-email-token"
    assert settings.token_for("sms") == "dev-sms-token"
    assert settings.token_for("push") is None


def test_by_default_no_webhook_is_sent_and_the_secrets_are_the_documented_ones():
    settings = SandboxSettings.from_environ({})

    assert [settings.receipt_url(c) for c in ("email", "sms", "push")] == [None, None, None]
    assert settings.inbound_url_for("sms") is None
    assert [settings.receipt_secret(c) for c in ("email", "sms", "push")] == [
        "dev-email-receipt-secret",
        "dev-sms-receipt-secret",
        "dev-push-receipt-secret",
    ]
    assert (settings.receipt_delay_ms, settings.receipt_batch_size) == (1000, 100)
    assert (settings.receipt_attempts, settings.receipt_retry_base_ms) == (5, 500)
    assert settings.receipt_timeout_seconds == 5.0


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


def test_every_webhook_variable_is_read():
    settings = SandboxSettings.from_environ(
        {
            "SANDBOX_RECEIPTS_URL": "http://127.0.0.1:8081/receipts/",
            "SANDBOX_RECEIPT_CHANNELS": " sms , email ",
            "SANDBOX_INBOUND_URL": "https://gateway.internal/inbound",
            "SANDBOX_EMAIL_RECEIPT_SECRET": "e-secret",
            "SANDBOX_SMS_RECEIPT_SECRET": "s-secret",
            "SANDBOX_PUSH_RECEIPT_SECRET": "p-secret",
            "SANDBOX_RECEIPT_DELAY_MS": "0",
            "SANDBOX_RECEIPT_BATCH_SIZE": "1",
            "SANDBOX_RECEIPT_ATTEMPTS": "2",
            "SANDBOX_RECEIPT_RETRY_BASE_MS": "50",
            "SANDBOX_RECEIPT_TIMEOUT_SECONDS": "2.5",
        }
    )

    assert [settings.receipt_url(c) for c in ("email", "sms", "push")] == [
        "http://127.0.0.1:8081/receipts/email",
        "http://127.0.0.1:8081/receipts/sms",
        None,
    ]
    assert settings.inbound_url_for("sms") == "https://gateway.internal/inbound/sms"
    assert [settings.receipt_secret(c) for c in ("email", "sms", "push")] == [
        "e-secret",
        "s-secret",
        "p-secret",
    ]
    assert (settings.receipt_delay_ms, settings.receipt_batch_size, settings.receipt_attempts) == (0, 1, 2)
    assert (settings.receipt_retry_base_ms, settings.receipt_timeout_seconds) == (50, 2.5)


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
        ("SANDBOX_RECEIPTS_URL", "127.0.0.1:8081/receipts"),
        ("SANDBOX_RECEIPTS_URL", "ftp://127.0.0.1/receipts"),
        ("SANDBOX_RECEIPTS_URL", "http://127.0.0.1:8081/receipts?x=1"),
        ("SANDBOX_RECEIPTS_URL", "http:///receipts"),
        ("SANDBOX_INBOUND_URL", "http://127.0.0.1:8081/inbound#top"),
        ("SANDBOX_RECEIPT_CHANNELS", "email,fax"),
        ("SANDBOX_RECEIPT_CHANNELS", "email,,sms"),
        ("SANDBOX_EMAIL_RECEIPT_SECRET", "has a space"),
        ("SANDBOX_SMS_RECEIPT_SECRET", "caf\u00e9"),
        ("SANDBOX_PUSH_RECEIPT_SECRET", "x" * 513),
        ("SANDBOX_RECEIPT_DELAY_MS", "-1"),
        ("SANDBOX_RECEIPT_DELAY_MS", "600001"),
        ("SANDBOX_RECEIPT_DELAY_MS", "1.5"),
        ("SANDBOX_RECEIPT_BATCH_SIZE", "0"),
        ("SANDBOX_RECEIPT_ATTEMPTS", "21"),
        ("SANDBOX_RECEIPT_RETRY_BASE_MS", "soon"),
        ("SANDBOX_RECEIPT_TIMEOUT_SECONDS", "0"),
        ("SANDBOX_RECEIPT_TIMEOUT_SECONDS", "nan"),
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


def test_a_bad_secret_is_refused_without_echoing_it(monkeypatch, capsys):
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SANDBOX_SMS_RECEIPT_SECRET", "secret with spaces")

    with pytest.raises(SystemExit):
        main(["serve"])

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "SANDBOX_SMS_RECEIPT_SECRET" in err
    assert "secret with" not in err


def test_tokens_and_secrets_are_not_shown_in_the_settings_repr():
    settings = SandboxSettings(
        email_token="e-secret",
        sms_token="s-secret",
        push_token="p-secret",
        email_receipt_secret="e-secret",
        sms_receipt_secret="s-secret",
        push_receipt_secret="p-secret",
    )

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


@pytest.mark.slow
async def test_serve_sends_signed_receipts_and_inbound_messages_as_configured(tmp_path, receiver):
    port = free_port()
    environment = {
        "PROVIDER_SANDBOX_PORT": str(port),
        "SANDBOX_SMS_TOKEN": "process-sms-token",
        "SANDBOX_RECEIPTS_URL": f"{receiver.base_url}/receipts",
        "SANDBOX_INBOUND_URL": f"{receiver.base_url}/inbound",
        "SANDBOX_SMS_RECEIPT_SECRET": "process-sms-receipt-secret",
        "SANDBOX_RECEIPT_DELAY_MS": "0",
    }
    sandbox = ServiceProcess("provider_sandbox", environment, port, tmp_path / "sandbox.log")
    sandbox.start()
    try:
        answer = _call(
            f"{sandbox.url}/dev/home-test/sms-delivery-service",
            data=json.dumps({"recipient": "+447700900001", "message": "Kit placed for Ada"}).encode(),
            headers={"Authorization": "Bearer process-sms-token", "Content-Type": "application/json"},
        )
        receipt = await receiver.next()
        _call(
            f"{sandbox.url}/_sandbox/inbound",
            data=json.dumps({"channel": "sms", "from": "+447700900001", "text": "STOP"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        inbound = await receiver.next()
    finally:
        exit_code = sandbox.stop()

    assert exit_code == 0
    assert receipt.path == "/receipts/sms"
    assert [(e["message_id"], e["status"]) for e in receipt.events] == [(answer["id"], "undelivered")]
    assert verify("process-sms-receipt-secret", receipt)
    assert inbound.path == "/inbound/sms"
    assert [(e["from"], e["text"]) for e in inbound.events] == [("+447700900001", "STOP")]
    assert verify("process-sms-receipt-secret", inbound)
    log = sandbox.log_path.read_text()
    assert "receipt delivery" in log
    for private in ("447700900001", "STOP", "process-sms-receipt-secret"):
        assert private not in log
