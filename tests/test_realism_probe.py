"""The realism probes: each one changes what it says it changes, and is paired with the renderer as committed."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")  # realism.py trains its classifiers with torch (the `fer` extra)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import realism  # noqa: E402
import realism_probe  # noqa: E402


@pytest.mark.parametrize("name", sorted(realism_probe.PROBES))
def test_each_probe_changes_some_masks_and_only_while_it_runs(frontal, name):
    image, face = frontal
    patch = realism_probe.PROBES[name].patch()
    for target in patch:  # a renamed constant would otherwise make the probe a silent no-op
        module, attribute = target.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), attribute), target
    before = [realism.render_variant(image, face, seed, "varied", {}, {}) for seed in range(24)]
    probed = [realism.render_variant(image, face, seed, "varied", {}, patch) for seed in range(24)]
    after = [realism.render_variant(image, face, seed, "varied", {}, {}) for seed in range(24)]
    assert any(not np.array_equal(a, b) for a, b in zip(before, probed))
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_paired_difference_counts_the_seeds_a_probe_came_out_lower():
    result = realism_probe.paired([0.90, 0.88, 0.91], [0.91, 0.90, 0.90])
    assert result["lower_on_seeds"] == 2 and result["seeds"] == 3
    assert result["mean_difference"] == pytest.approx(-0.02 / 3)
    assert result["standard_error"] == pytest.approx(np.std([-0.01, -0.02, 0.01], ddof=1) / np.sqrt(3))


def test_records_survive_a_line_cut_short(tmp_path, capsys):
    path = tmp_path / "probes.jsonl"
    realism_probe.append_run(path, {"probe": "unchanged", "accuracy": [0.9, 0.8]})
    with path.open("a") as f:
        f.write('{"probe": "no-str')  # a run killed while writing
    realism_probe.append_run(path, {"probe": "no-straps", "accuracy": [0.8, 0.8]})
    path.open("a").write('{"other": 1}\n\n')
    runs = realism_probe.load_runs(path)
    assert [run["probe"] for run in runs] == ["unchanged", "no-straps"]
    warnings = capsys.readouterr().err
    assert "line 2 skipped: not JSON" in warnings and "line 4 skipped: not a probe record" in warnings
