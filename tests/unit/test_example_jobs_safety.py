"""The example jobs are safe to leave enabled: check_url reaches only public addresses
unless configured, never follows a redirect, and cleanup_runs takes only sane day counts."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from jobs import examples
from jobs.registry import ArgumentsError
from jobs.settings import JobsSettings
from jobs.targets import TargetError, address_allowed, checked_address


class Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        else:
            self.send_response(200)
        self.send_header("X-Host-Seen", self.headers["Host"])
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def check(url: str) -> dict[str, object]:
    """Run check_url as the worker does: arguments validated, then the function called."""
    done: dict[str, object] = examples.registry.get("check_url").call({"url": url})
    return done


def allow(monkeypatch: pytest.MonkeyPatch, networks: str = "") -> None:
    settings = JobsSettings.from_env({"BEATKEEPER_CHECK_URL_ALLOW": networks})
    monkeypatch.setattr(examples, "current_settings", lambda: settings)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address))


def test_public_addresses_and_allowed_networks_pass() -> None:
    assert address_allowed(ipaddress.ip_address("93.184.216.34"))
    assert address_allowed(ipaddress.ip_address("10.1.2.3"), [ipaddress.ip_network("10.0.0.0/8")])


def test_a_name_is_refused_when_any_of_its_addresses_is_private() -> None:
    with pytest.raises(TargetError, match="not a public address"):
        checked_address("localhost", 80)


def test_check_url_refuses_a_loopback_port_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, local_server: int
) -> None:
    allow(monkeypatch)
    with pytest.raises(examples.TargetRefused, match="BEATKEEPER_CHECK_URL_ALLOW"):
        check(f"http://127.0.0.1:{local_server}/")
    with pytest.raises(examples.TargetRefused):
        check(f"http://localhost:{local_server}/")


def test_an_allowed_network_is_reached_at_the_checked_address_and_redirects_are_not_followed(
    monkeypatch: pytest.MonkeyPatch, local_server: int
) -> None:
    allow(monkeypatch, "127.0.0.0/8")
    done = check(f"http://localhost:{local_server}/")
    assert done["status"] == 200
    with pytest.raises(examples.UnexpectedStatus, match="302"):
        check(f"http://127.0.0.1:{local_server}/redirect")


def test_a_url_with_credentials_is_refused_at_enqueue() -> None:
    spec = examples.registry.get("check_url")
    with pytest.raises(ArgumentsError) as refused:
        spec.validate([], {"url": "http://guest:guest@rabbit:15672/api/overview"})
    assert [e["field"] for e in refused.value.errors] == ["url"]


@pytest.mark.parametrize("days", [True, 0, 36_501, 10**20, "7"])
def test_cleanup_runs_refuses_true_and_day_counts_out_of_range(days: object) -> None:
    spec = examples.registry.get("cleanup_runs")
    with pytest.raises(ArgumentsError):
        spec.validate([], {"older_than_days": days})
    assert spec.validate([], {"older_than_days": 30}) == {"older_than_days": 30}
