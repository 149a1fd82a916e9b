"""benchmarks/provenance.py: what every results/ JSON says about where it came from."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import provenance  # noqa: E402


def test_the_command_can_be_pasted_back_into_a_shell(monkeypatch):
    argv = ["benchmarks/mask_colours.py", "--ablations", "varied, with the fabric's bulges", "--limit", "5"]
    monkeypatch.setattr(sys, "argv", argv)
    command = provenance.command()
    assert command.startswith("python benchmarks/mask_colours.py --ablations ")
    assert shlex.split(command) == ["python", *argv]  # the quoted argument comes back whole


def test_machine_and_date():
    machine = provenance.machine(torch="2.x")
    assert machine["cpu_count"] >= 1 and machine["platform"] and machine["torch"] == "2.x"
    assert len(provenance.today()) == 10 and provenance.today()[4] == "-"
