"""``beatkeeper up`` in development refuses to serve the web app beyond this machine."""

from __future__ import annotations

from click.testing import CliRunner

from webapp.cli import main


def test_up_in_development_refuses_a_host_beyond_loopback_naming_what_to_set() -> None:
    result = CliRunner(env={"BEATKEEPER_ENV": "development"}).invoke(
        main, ["up", "--host", "0.0.0.0"]
    )

    assert result.exit_code == 2
    assert "--host='0.0.0.0'" in result.output
    assert "BEATKEEPER_ENV=production" in result.output


def test_every_command_refuses_a_development_web_host_beyond_loopback() -> None:
    env = {"BEATKEEPER_ENV": "development", "BEATKEEPER_WEB_HOST": "0.0.0.0"}

    result = CliRunner(env=env).invoke(main, ["jobs"])

    assert result.exit_code == 2
    assert "BEATKEEPER_WEB_HOST='0.0.0.0'" in result.output
