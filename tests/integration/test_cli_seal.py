"""`certseal seal …`: the commands in-process (typer's CliRunner over a real Platform), exit codes through the real
`certseal` process, and help text on every command and option."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from asn1crypto import pem
from typer.testing import CliRunner, Result

from certseal.cli.common import _state, app
from certseal.cli.seal import seal_app
from certseal.errors import AlreadyExists, NotFound, ValidationError
from certseal.services.platform import Platform
from certseal.services.seals import SealService
from tests.integration.test_cli import Deployment
from tests.integration.test_seals import SUBJECT, UNIT, Pki, small_png


class Cli:
    def __init__(self, platform: Platform, root: Path) -> None:
        self.platform = platform
        self.root = root
        self.runner = CliRunner()
        self.pki = Pki(platform)

    def __call__(self, *args: str | Path, ok: bool = True) -> Result:
        result = self.runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "220", "CERTSEAL_ACTOR": "officer-li"})
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    def file(self, name: str, content: bytes) -> Path:
        path = self.root / name
        path.write_bytes(content)
        return path

    def certificate(self, name: str = "seal.pem") -> Path:
        return self.file(name, pem.armor("CERTIFICATE", self.pki.seal_certificate()[0]))


@pytest.fixture
def cli(platform: Platform, tmp_path: Path) -> Iterator[Cli]:
    _state["platform"] = platform  # the commands use this deployment instead of building one from the environment
    try:
        yield Cli(platform, tmp_path)
    finally:
        _state.pop("platform", None)


def test_create_list_show_image_users_disable(cli: Cli) -> None:
    created = cli(
        "seal", "create", "fda-license", "--cert", cli.certificate(), "--generate-for", UNIT,
        "--text", "电子证照专用章", "--code", "3201000012345", "--type", "license",
        "--user", "officer-li", "--user", "api:his-gateway",
    )  # fmt: skip
    assert "created seal fda-license" in created.output and "3201000012345" in created.output
    cli("seal", "create", "contract", "--cert", cli.certificate("c.pem"), "--image", cli.file("s.png", small_png()))
    listing = cli("seal", "list").output
    assert "fda-license" in listing and "电子证照专用章" in listing and "contract" in listing
    shown = cli("seal", "show", "fda-license").output
    assert "3201000012345" in shown and "officer-li, api:his-gateway" in shown and "42×42 mm" in shown

    out = cli.root / "fda.png"
    cli("seal", "image", "fda-license", "--out", out)
    assert out.read_bytes() == SealService(cli.platform).image("fda-license")
    check = subprocess.run(["pngcheck", str(out)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and "RGB+alpha" in check.stdout, check.stdout

    users = cli("seal", "users", "fda-license", "--add", "bob", "--remove", "api:his-gateway").output
    assert "officer-li, bob" in users
    assert SealService(cli.platform).get("fda-license").users == ("officer-li", "bob")
    assert "officer-li, bob" in cli("seal", "users", "fda-license").output
    assert "disabled" in cli("seal", "disable", "fda-license", "--yes").output
    assert SealService(cli.platform).get("fda-license").status.value == "disabled"
    assert SealService(cli.platform).get("contract").users == ("officer-li",)  # the creator by default


@pytest.mark.parametrize(
    ("args", "error", "text"),
    [
        (["--image", "opaque.png"], ValidationError, "corner pixel"),
        (["--image", "ok.png", "--type", "round"], ValidationError, "must be one of official"),
        (["--image", "ok.png", "--code", "12"], ValidationError, "13-20"),
        (["--image", "ok.png", "--size", "big"], ValidationError, "must look like 42 or 40x30"),
        (["--image", "ok.png", "--not-after", "soon"], ValidationError, "not a date"),
        (["--generate-for", "某"], ValidationError, "unit_name"),
    ],
)
def test_bad_input_is_refused(cli: Cli, args: list[str], error: type[Exception], text: str) -> None:
    cli.file("opaque.png", small_png(opaque=True))
    cli.file("ok.png", small_png())
    arguments = [a if not a.endswith(".png") else str(cli.root / a) for a in args]
    result = cli("seal", "create", "x", "--cert", cli.certificate(), *arguments, ok=False)
    assert isinstance(result.exception, error) and text in str(result.exception), result.output
    assert SealService(cli.platform).list() == []


def test_usage_errors_and_unknown_or_duplicate_seals(cli: Cli) -> None:
    cert, image = cli.certificate(), cli.file("ok.png", small_png())
    both = cli("seal", "create", "x", "--cert", cert, "--image", image, "--generate-for", UNIT, ok=False)
    assert both.exit_code == 2 and "exactly one of --image" in both.output
    text_alone = cli("seal", "create", "x", "--cert", cert, "--image", image, "--text", "章", ok=False)
    assert text_alone.exit_code == 2 and "--text goes with --generate-for" in text_alone.output
    assert isinstance(cli("seal", "show", "nope", ok=False).exception, NotFound)
    cli("seal", "create", "x", "--cert", cert, "--image", image)
    again = cli("seal", "create", "x", "--cert", cli.certificate("2.pem"), "--image", image, ok=False)
    assert isinstance(again.exception, AlreadyExists)


def test_every_seal_command_and_option_has_help() -> None:
    group = typer.main.get_command(seal_app)
    ours = {"create", "list", "show", "image", "users", "disable"}  # other modules may add commands (seal pdf …)
    commands = getattr(group, "commands", {})
    assert group.help and ours <= set(commands)
    for name in ours:
        command = commands[name]
        assert command.help, name
        for param in command.params:
            assert getattr(param, "help", None), f"seal {name}: {param.name} has no help"


@pytest.mark.slow
def test_exit_codes_of_the_real_command(tmp_path: Path) -> None:
    d = Deployment(tmp_path)
    d.run("init")
    d.run("ca", "create", "root", "--alg", "p256")
    d.run("cert", "issue", "--ca", "root", "--profile", "seal", "--subject", SUBJECT, "--generate-key", "p256",
          "--out", "seal.pem")  # fmt: skip
    opaque = d.file("opaque.png", small_png(opaque=True))
    bad = d.run("seal", "create", "x", "--cert", "seal.pem", "--image", str(opaque), ok=False)
    assert bad.returncode == 2 and "image:" in bad.stderr and "transparent" in bad.stderr
    d.run("seal", "create", "x", "--cert", "seal.pem", "--generate-for", UNIT)
    missing = d.run("seal", "show", "nope", ok=False)
    assert missing.returncode == 1 and "no seal named 'nope'" in missing.stderr
    assert "audit trail intact" in d.run("audit", "verify").stdout
