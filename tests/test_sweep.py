"""The kernel study at equal size: every cell's channels scaled to one parameter budget."""

from __future__ import annotations

import json

import pytest

from ser_core.cli import main
from ser_core.recipes import resolve
from ser_core.training.sweep import BUDGET_TOLERANCE, channels_for_budget, parameter_count, parse_count


@pytest.mark.parametrize("kernel", [(1, 3, 1), (1, 3, 9), (4, 3, 5), (3, 3, 3)])
def test_every_kernel_is_sized_to_the_budget(kernel):
    spec = resolve("demo", {"model.name": "cnn3d", "model.kernel": list(kernel)})
    channels = channels_for_budget(spec, 20_000, num_classes=4)
    count = parameter_count(spec.replace(model=spec.model.replace(channels=channels)), 4)
    assert abs(count - 20_000) <= BUDGET_TOLERANCE * 20_000
    ratios = {c / base for c, base in zip(channels, spec.model.channels)}
    assert max(ratios) / min(ratios) < 1.5  # one factor for every layer, up to rounding


def test_a_budget_no_scaling_reaches_is_refused():
    spec = resolve("demo", {"model.name": "cnn3d"})
    with pytest.raises(ValueError, match="within 10% of 10 parameters"):
        channels_for_budget(spec, 10, num_classes=4)


def test_parameter_counts_read_as_people_write_them():
    assert (parse_count("30k"), parse_count("1.2M"), parse_count("5000")) == (30_000, 1_200_000, 5_000)
    with pytest.raises(ValueError, match="looks like 30000, 30k or 1.2M"):
        parse_count("lots")


def test_ser_sweep_params_holds_each_cell_near_the_budget(small_demo, tmp_path, capsys):
    out = tmp_path / "equal"
    common = ["sweep", "-m", str(small_demo / "manifest.csv"), "--out", str(out), "--k-seg", "1,3", "--k-mel", "1",
              "--recipe", "demo", "--split", "kfold:2", "--epochs", "1", "--quiet"]
    assert main([*common, "--params", "4k"]) == 0
    cells = json.loads((out / "sweep.json").read_text())
    assert cells["params_budget"] == 4000 and len(cells["cells"]) == 2
    assert all(abs(c["params"] - 4000) <= 400 for c in cells["cells"])
    configs = [json.loads((out / name / "config.json").read_text())["model"] for name in ("kseg1_kmel1", "kseg3_kmel1")]
    assert configs[0]["channels"] != configs[1]["channels"]  # the bigger kernel got fewer channels
    capsys.readouterr()
    assert main(common) == 2  # the same folder with fixed channels would mix two rules in one grid
    assert "sized to about 4,000 parameters" in capsys.readouterr().err
