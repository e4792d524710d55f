"""The example configurations in docs/examples/ (shown in docs/install.md) stay valid: they pass
`intercom check-config`, and their board profile loads as flash.sh and the firmware load it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from firmware.runtime import config
from firmware.runtime.app import board_profile
from tests.flash.conftest import REPO

EXAMPLES = sorted((REPO / "docs" / "examples").glob("*.toml"))


def test_the_examples_are_there() -> None:
    names = {path.stem for path in EXAMPLES}
    assert {"fritzbox", "asterisk-freepbx", "kamailio", "peer-to-peer"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_example_passes_check_config(example: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "firmware", "check-config", str(example)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{example}: ok")
    profile = board_profile(config.load(example))
    assert profile.relay is not None and profile.button is not None


def test_install_md_shows_every_example_as_it_is() -> None:
    text = (REPO / "docs" / "install.md").read_text()
    for example in EXAMPLES:
        shown = f"`docs/examples/{example.name}`:\n\n```toml\n{example.read_text()}```\n"
        assert shown in text, f"docs/install.md does not show {example.name} as it is"


def test_every_toml_snippet_in_install_md_is_a_valid_config() -> None:
    text = (REPO / "docs" / "install.md").read_text()
    snippets = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    assert len(snippets) >= len(EXAMPLES) + 3
    for snippet in snippets:
        board_profile(config.validate(tomllib.loads(snippet), "install.md"))
