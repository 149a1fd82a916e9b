"""fer: models, dataset layouts (and broken ones), a few-image training run per model, evaluation outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="fer needs the [fer] extra (torch, torchvision)")

import maskgen  # noqa: E402
from fer.cli import main as fer_main  # noqa: E402
from fer.data import LABELS, DatasetError, FaceDataset, build_landmark_cache, find_samples  # noqa: E402
from fer.metrics import classification_metrics, paired_difference  # noqa: E402
from fer.models import count_parameters, create_model, list_models  # noqa: E402


@pytest.fixture(scope="module")
def folder_dataset(tmp_path_factory) -> Path:
    """LFW-FER layout: {train,eval}/{negative,neutral,positive}/ with the bundled samples."""
    root = tmp_path_factory.mktemp("lfwfer")
    paths = maskgen.sample_paths()
    for split in ("train", "eval"):
        for i, label in enumerate(LABELS):
            folder = root / split / label
            folder.mkdir(parents=True)
            for j in range(2):
                src = paths[(3 * i + j + (split == "eval")) % len(paths)]
                shutil.copy(src, folder / f"{j}_{src.name}")
    return root


def test_registry_builds_every_model_at_cpu_and_paper_sizes():
    assert set(list_models()) == {"resmasking", "cbam_resnet50", "vgg19", "mobilenet_v2"}
    for name in list_models():
        model = create_model(name, num_classes=3).eval()
        with torch.no_grad():
            for size in (64, 224):
                assert model(torch.zeros(2, 3, size, size)).shape == (2, 3)
        assert count_parameters(model) > 1_000_000
    with pytest.raises(ValueError, match="unknown model"):
        create_model("resnet9000")


def test_resmasking_has_a_masking_block_per_stage_with_decreasing_depth():
    model = create_model("resmasking")
    assert [block.depth for block in model.masks] == [4, 3, 2, 1]


def test_weights_from_another_model_are_refused(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"model_name": "vgg19", "model_state": create_model("vgg19").state_dict()}, path)
    with pytest.raises(ValueError, match="vgg19"):
        create_model("mobilenet_v2", weights=path)
    with pytest.raises(FileNotFoundError):
        create_model("mobilenet_v2", weights=tmp_path / "missing.pt")


def test_both_layouts_parse(folder_dataset, csv_dataset):
    train, root = find_samples(folder_dataset, "train")
    assert len(train) == 6 and sorted({s.label for s in train}) == [0, 1, 2] and root == folder_dataset
    evaluation, _ = find_samples(folder_dataset / "eval", None)
    assert len(evaluation) == 6
    rows, _ = find_samples(csv_dataset, "train")
    assert len(rows) == 5  # the surprise row has no three-class label
    rows_file, _ = find_samples(csv_dataset / "labels.csv", "val")
    assert sorted(s.label for s in rows_file) == [0, 1, 2]


def test_broken_datasets_give_clear_errors(folder_dataset, tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        find_samples(tmp_path / "nothing", "train")
    bad = tmp_path / "bad"
    shutil.copytree(folder_dataset, bad)
    (bad / "train" / "surprised").mkdir()
    with pytest.raises(DatasetError, match="unknown label"):
        find_samples(bad, "train")
    shutil.rmtree(bad / "train" / "surprised")
    for f in (bad / "train" / "negative").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match="no images"):
        find_samples(bad, "train")
    csv_bad = tmp_path / "csvbad"
    csv_bad.mkdir()
    (csv_bad / "labels.csv").write_text("image,expression,split\na.jpg,angry,train\n")
    with pytest.raises(DatasetError, match="unknown expression"):
        find_samples(csv_bad, "train")


def test_corrupt_image_stops_training_before_it_starts(folder_dataset, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(folder_dataset, broken)
    (broken / "train" / "neutral" / "0_corrupt.jpg").write_bytes(b"garbage")
    code = fer_main(["train", "--data", str(broken), "--model", "mobilenet_v2", "--config", "smoke",
                     "--val-split", "eval", "--out", str(tmp_path / "run")])
    assert code == 2 and "unreadable" in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()


def epoch_bytes(dataset: FaceDataset, epoch: int, workers: int) -> list[bytes]:
    dataset.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=workers)
    return [image.numpy().tobytes() for batch, _ in loader for image in batch]


def test_training_masks_are_fresh_every_epoch_whatever_the_workers(folder_dataset, tmp_path):
    """Keyed, not streamed: epoch e's masks depend on (seed, file, e) only, not on workers, order or resume."""
    samples, root = find_samples(folder_dataset, "train")
    cache = maskgen.cache.LandmarkCache(tmp_path / "c.sqlite", root=root)
    build_landmark_cache(samples, cache)  # as fer train does: forked workers cannot run MediaPipe
    make = lambda: FaceDataset(samples, 48, "varied", cache, augment=True, seed=5)
    two_workers = [epoch_bytes(make(), epoch, workers=2) for epoch in (0, 1)]
    assert all(a != b for a, b in zip(*two_workers))  # every photo gets a new mask (and augmentation)
    assert epoch_bytes(make(), 0, workers=0) == two_workers[0]  # same pixels in the main process
    resumed = make()  # a run resumed at epoch 1 sees what the uninterrupted run saw there
    assert epoch_bytes(resumed, 1, workers=1) == two_workers[1]
    assert epoch_bytes(FaceDataset(samples, 48, "varied", cache, augment=True, seed=6), 0, workers=0) != \
        two_workers[0]


def test_masked_dataset_is_fresh_in_training_and_fixed_in_evaluation(folder_dataset, tmp_path):
    samples, root = find_samples(folder_dataset, "train")
    cache = maskgen.cache.LandmarkCache(tmp_path / "c.sqlite", root=root)
    train = FaceDataset(samples, 48, "varied", cache)
    first = train.load(0)
    assert np.array_equal(first, train.load(0))  # keyed: the same sample in the same epoch
    train.set_epoch(1)
    assert not np.array_equal(first, train.load(0))
    fixed = FaceDataset(samples, 48, "varied", cache, fixed_seed=3)
    assert np.array_equal(fixed.load(0), fixed.load(0))
    image, label = fixed[0]
    assert image.shape == (3, 48, 48) and label == samples[0].label


@pytest.mark.parametrize("model", ["mobilenet_v2", "resmasking", "cbam_resnet50", "vgg19"])
def test_few_image_training_and_evaluation_end_to_end(folder_dataset, tmp_path, model):
    run = tmp_path / model
    cache = tmp_path / "landmarks.sqlite"
    assert fer_main(["train", "--data", str(folder_dataset), "--model", model, "--config", "smoke",
                     "--mask", "varied", "--val-split", "eval", "--out", str(run), "--cache", str(cache)]) == 0
    for name in ("best.pt", "last.pt", "history.csv", "history.json", "learning-curve.png", "train.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "train.json").read_text())["command"].startswith(f"fer train --data {folder_dataset}")
    assert fer_main(["evaluate", "--data", str(folder_dataset), "--split", "eval", "--checkpoint",
                     str(run / "best.pt"), "--mask", "mlfw-white", "--out", str(run / "eval"),
                     "--cache", str(cache)]) == 0
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert metrics["count"] == 6 and 0.0 <= metrics["balanced_accuracy"] <= 1.0
    assert (run / "eval" / "confusion.png").is_file()
    rows = (run / "eval" / "predictions.csv").read_text().splitlines()
    assert rows[0] == "file,label,prediction" and len(rows) == 7
    assert all(r.split(",")[1] in LABELS and r.split(",")[2] in LABELS and not r.startswith("/") for r in rows[1:])
    assert sum(r.split(",")[1] == r.split(",")[2] for r in rows[1:]) == round(metrics["accuracy"] * 6)
    if metrics["accuracy"] < 1.0:  # a small JPEG grid of the misclassified photos, unless --no-grid
        assert 0 < (run / "eval" / "misclassified.jpg").stat().st_size < 150_000
    assert fer_main(["evaluate", "--data", str(folder_dataset), "--split", "eval", "--checkpoint",
                     str(run / "best.pt"), "--out", str(run / "eval2"), "--no-grid"]) == 0
    assert not list((run / "eval2").glob("misclassified*"))
    # resume continues from the checkpoint
    assert fer_main(["train", "--data", str(folder_dataset), "--model", model, "--config", "smoke", "--epochs", "2",
                     "--mask", "varied", "--val-split", "eval", "--out", str(run), "--cache", str(cache),
                     "--resume", str(run / "last.pt")]) == 0
    assert len(json.loads((run / "history.json").read_text())) == 2


def test_resume_refuses_another_models_checkpoint(folder_dataset, tmp_path):
    run = tmp_path / "run"
    assert fer_main(["train", "--data", str(folder_dataset), "--model", "mobilenet_v2", "--config", "smoke",
                     "--val-split", "eval", "--out", str(run)]) == 0
    assert fer_main(["train", "--data", str(folder_dataset), "--model", "vgg19", "--config", "smoke",
                     "--val-split", "eval", "--out", str(run), "--resume", str(run / "last.pt")]) == 2


def test_a_resumed_run_is_the_uninterrupted_run_and_must_repeat_its_settings(folder_dataset, tmp_path, capsys):
    """Resumed at epoch 2, a run trains exactly as the uninterrupted one (dropout included: torch's random
    state is keyed by epoch, not carried over); other settings than the length are refused, and an existing run
    is not silently replaced."""
    common = ["train", "--data", str(folder_dataset), "--model", "mobilenet_v2", "--config", "smoke",
              "--val-split", "eval", "--seed", "4"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert fer_main([*common, "--epochs", "2", "--out", str(whole)]) == 0
    assert fer_main([*common, "--epochs", "1", "--out", str(cut)]) == 0
    assert fer_main([*common, "--epochs", "2", "--out", str(cut), "--resume", str(cut / "last.pt")]) == 0
    losses = [[row["train_loss"] for row in json.loads((run / "history.json").read_text())] for run in (whole, cut)]
    assert losses[0] == losses[1]
    capsys.readouterr()
    assert fer_main([*common, "--epochs", "3", "--image-size", "48", "--mask", "mlfw-white", "--out", str(cut),
                     "--resume", str(cut / "last.pt")]) == 2
    err = capsys.readouterr().err
    assert "image_size: 32 -> 48" in err and "mask: 'none' -> 'mlfw-white'" in err
    assert fer_main([*common, "--out", str(cut), "--resume", str(tmp_path / "missing.pt")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    best = torch.load(cut / "best.pt", map_location="cpu", weights_only=False)
    assert "optimizer_state" not in best and "model_state" in best  # the model to evaluate, a third of last.pt
    assert (cut / "best.pt").stat().st_size < 0.6 * (cut / "last.pt").stat().st_size
    assert fer_main([*common, "--epochs", "2", "--out", str(cut), "--resume", str(cut / "best.pt")]) == 2
    assert "resume from last.pt" in capsys.readouterr().err
    assert fer_main([*common, "--out", str(cut)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert fer_main([*common, "--out", str(cut), "--overwrite"]) == 0


@pytest.mark.parametrize("option,value", [("--epochs", "0"), ("--image-size", "0"), ("--max-train", "-1"),
                                          ("--workers", "-2"), ("--epochs", "two")])
def test_fer_refuses_bad_numbers_before_any_work(folder_dataset, tmp_path, option, value, capsys):
    with pytest.raises(SystemExit) as stop:
        fer_main(["train", "--data", str(folder_dataset), "--model", "mobilenet_v2", "--config", "smoke",
                  "--out", str(tmp_path / "run"), option, value])
    assert stop.value.code == 2 and option in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_metrics():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 0, 2])
    m = classification_metrics(y_true, y_pred, LABELS)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0 + 0.75) / 3)
    assert m["recall"] == {"negative": 0.5, "neutral": 1.0, "positive": 0.75}
    assert m["confusion"][2][0] == 1


def test_preloaded_dataset_masks_at_the_training_size_like_the_full_photo(folder_dataset, tmp_path):
    samples, root = find_samples(folder_dataset, "train")
    cache = maskgen.cache.LandmarkCache(tmp_path / "c.sqlite", root=root)
    lazy = FaceDataset(samples, 64, "surgical", cache, seed=2)
    loaded = FaceDataset(samples, 64, "surgical", cache, seed=2, preload=True)
    for index in range(len(samples)):
        small = loaded.load(index)
        assert small.shape == (64, 64, 3)
        # the same mask drawn at 64 px: close to the full-size render shrunk to 64 px
        import cv2

        shrunk = cv2.resize(lazy.load(index), (64, 64), interpolation=cv2.INTER_AREA)
        assert np.abs(small.astype(int) - shrunk.astype(int)).mean() < 12
    image, label = loaded[0]
    assert image.shape == (3, 64, 64) and label == samples[0].label


def test_cpu_fast_options_train_end_to_end(folder_dataset, tmp_path):
    """One-cycle schedule, label smoothing, bf16 autocast, channels_last and preloading, on a tiny set."""
    import dataclasses

    from fer.train import CONFIGS, train

    config = dataclasses.replace(CONFIGS["cpu-fast"], epochs=2, workers=0, channels_last=True, image_size=48,
                                 batch_size=4)
    samples, root = find_samples(folder_dataset, "train")
    cache = maskgen.cache.LandmarkCache(tmp_path / "c.sqlite", root=root)
    train_set = FaceDataset(samples, 48, "varied", cache, augment=True, preload=True)
    val_set = FaceDataset(samples, 48, "varied", cache, fixed_seed=0, preload=True)
    summary = train("mobilenet_v2", train_set, val_set, config, tmp_path / "run")
    lrs = [row["lr"] for row in summary["history"]]
    assert summary["epochs_run"] == 2 and lrs[0] != lrs[1]  # the one-cycle schedule moves every step
    assert (tmp_path / "run" / "best.pt").is_file()


@pytest.mark.parametrize("arguments, message", [
    (["--real-test", "REAL"], "--real-test: REAL: unknown label folder(s) ['unlabelled']"),
    (["--real-test", "REAL/neutral"], "expected labels.csv or {negative,neutral,positive}/"),
    (["--models", "mobilenet_v2,nosuch"], "--models: unknown ['nosuch']"),
    (["--conditions", "none,surgical"], "--conditions: unknown ['surgical']"),
    (["--seeds", "1,x"], "--seeds: expected comma-separated whole numbers, got '1,x'"),
    (["--seeds", ""], "--seeds: expected comma-separated whole numbers, got ''"),
    (["--max-eval", "0"], "argument --max-eval: must be at least 1, got 0"),
    (["--data", "NOWHERE"], "--data: dataset not found"),
])
def test_experiment_refuses_bad_arguments_before_training(csv_dataset, tmp_path, arguments, message):
    """Every argument is checked before the first run: a bad one late in a list must not cost the runs before it."""
    import subprocess
    import sys

    real = tmp_path / "real"
    for label in (*LABELS, "unlabelled"):
        (real / label).mkdir(parents=True)
        shutil.copy(maskgen.sample_paths()[0], real / label / "a.jpg")
    arguments = [a.replace("REAL", str(real)).replace("NOWHERE", str(tmp_path / "nowhere")) for a in arguments]
    message = message.replace("REAL", str(real))
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "experiment.py"
    done = subprocess.run([sys.executable, str(script), "--data", str(csv_dataset), "--config", "smoke",
                           "--models", "mobilenet_v2", "--results", str(tmp_path / "results"),
                           "--runs", str(tmp_path / "runs"), *arguments], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-1000:]
    assert not (tmp_path / "runs").exists()  # nothing trained


def test_default_landmark_cache_lies_beside_the_run_not_in_the_working_folder(folder_dataset, tmp_path,
                                                                               monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = tmp_path / "runs" / "a"
    assert fer_main(["train", "--data", str(folder_dataset), "--model", "mobilenet_v2", "--config", "smoke",
                     "--mask", "varied", "--val-split", "eval", "--out", str(run)]) == 0
    cache = tmp_path / "runs" / f"landmarks-{folder_dataset.name}.sqlite"
    assert cache.is_file() and list(elsewhere.iterdir()) == []
    assert fer_main(["evaluate", "--data", str(folder_dataset), "--split", "eval", "--checkpoint",
                     str(run / "best.pt"), "--mask", "mlfw-white", "--out", str(run / "eval")]) == 0
    assert [p.name for p in (tmp_path / "runs").glob("*.sqlite")] == [cache.name]  # the same cache, shared
    assert list(elsewhere.iterdir()) == []


def test_paired_difference_cancels_what_two_models_share():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 400)
    noisy = np.where(rng.random(400) < 0.6, labels, rng.integers(0, 3, 400))
    same = paired_difference([(labels, noisy, noisy)] * 3, 3, draws=200)
    for name in ("accuracy", "balanced_accuracy"):
        assert same[name]["mean"] == 0 and same[name]["bootstrap_95"] == [0, 0] and same[name]["seeds_t_95"] == [0, 0]
    better = noisy.copy()
    better[:100] = labels[:100]  # B fixes A's mistakes on the first 100 photos
    gain = float((better == labels).mean() - (noisy == labels).mean())
    result = paired_difference([(labels, noisy, better)], 3, draws=500)
    assert result["accuracy"]["mean"] == pytest.approx(gain) and "seeds_t_95" not in result["accuracy"]
    low, high = result["accuracy"]["bootstrap_95"]
    assert 0 < low < gain < high  # B never loses a photo, so the paired interval stays above zero
    with pytest.raises(ValueError, match="same non-empty photo list"):
        paired_difference([(labels, noisy, better[:10])], 3)


def experiment_script():
    """benchmarks/experiment.py as a module (benchmarks/ is scripts, not a package)."""
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "experiment.py"
    spec = importlib.util.spec_from_file_location("experiment_script", script)
    experiment = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(experiment)
    return experiment


def test_experiment_pairs_varied_and_white_runs_photo_by_photo(tmp_path, monkeypatch):
    import argparse

    experiment = experiment_script()
    rng = np.random.default_rng(1)
    files = [f"images/p{i}.jpg" for i in range(90)]
    labels = rng.integers(0, 3, 90)
    for seed in (0, 1, 2):
        for trained, right in (("mlfw-white", 0.5), ("varied", 0.7)):
            for test_mask in experiment.CONDITIONS:
                folder = experiment.seed_dir(tmp_path, seed) / f"resmasking-{trained}" / f"eval-val-{test_mask}"
                folder.mkdir(parents=True)
                preds = np.where(rng.random(90) < right, labels, rng.integers(0, 3, 90))
                order = rng.permutation(90)  # each evaluation may list the photos in its own order
                (folder / "predictions.csv").write_text("file,label,prediction\n" + "".join(
                    f"{files[i]},{LABELS[labels[i]]},{LABELS[preds[i]]}\n" for i in order))
        (experiment.seed_dir(tmp_path, seed) / "experiment.json").write_text("{}")
    assert experiment.saved_seeds(tmp_path) == [0, 1, 2]
    report = experiment.paired(tmp_path, ["resmasking", "cbam_resnet50"], [0, 1, 2],
                               argparse.Namespace(config="smoke"))
    assert [(r["model"], r["test_mask"], r["seeds_used"]) for r in report["rows"]] == [
        ("resmasking", c, [0, 1, 2]) for c in experiment.CONDITIONS]
    assert all(r["photos"] == [90, 90, 90] and r["accuracy"]["mean"] > 0 for r in report["rows"])
    table = (tmp_path / "paired.md").read_text()
    assert table.count("| resmasking |") == 3 and "95 % over seeds" in table


def test_experiment_table_sits_beside_the_papers_table_1(tmp_path):
    experiment = experiment_script()
    def cell(accuracy: float, balanced: float) -> dict:
        return {"accuracy": accuracy, "balanced_accuracy": balanced}
    white = {"model": "resmasking", "trained_on": "mlfw-white", "val-mlfw-white": cell(0.7, 0.6),
             "real-none-grey": cell(0.41, 0.4)}
    for seed, (unmasked, balanced) in enumerate([(0.5, 0.55), (0.6, 0.65)]):
        varied = {"model": "resmasking", "trained_on": "varied", "val-none": cell(unmasked, balanced),
                  "val-mlfw-white": cell(0.4, 0.45), "val-varied": cell(0.45, 0.5)}
        folder = experiment.seed_dir(tmp_path, seed)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "experiment.json").write_text(json.dumps({"rows": [varied] + ([white] if seed == 0 else [])}))
    table = experiment.versus_paper(tmp_path, [0, 1]).splitlines()
    assert table == (tmp_path / "versus-paper.md").read_text().splitlines()
    white, varied = table[2].split(" | "), table[3].split(" | ")  # white before varied, as in CONDITIONS
    assert white[1:7] == ["white masks (M-LFW)", "78.4", "52.6", "1", "", "**70.0 (60.0)**"]
    assert white[-1] == "41.0 (40.0) |"  # the grey real test, the like-for-like one for grey training photos
    assert varied[1:9] == ["varied masks", "-", "-", "2", "55.0 +- 5.0 (60.0)", "40.0 +- 0.0 (45.0)",
                           "**45.0 +- 0.0 (50.0)**", "+5.0 +- 0.0 (+5.0)"]
    assert varied[-1] == "not given |"


def test_experiment_scores_a_real_test_folder_in_colour_and_in_grey(csv_dataset, tmp_path):
    import subprocess
    import sys

    real = tmp_path / "real"
    for index, label in enumerate(LABELS):
        (real / label).mkdir(parents=True)
        shutil.copy(maskgen.sample_paths()[index], real / label / "a.jpg")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "experiment.py"
    done = subprocess.run([sys.executable, str(script), "--data", str(csv_dataset), "--real-test", str(real),
                           "--config", "smoke", "--models", "mobilenet_v2", "--conditions", "none",
                           "--cache", str(tmp_path / "landmarks.sqlite"), "--results", str(tmp_path / "results"),
                           "--runs", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = tmp_path / "results" / "experiment-smoke" / "mobilenet_v2-none"
    assert {p.name for p in saved.glob("eval-*")} == {"eval-val-none", "eval-val-mlfw-white", "eval-val-varied",
                                                      "eval-real-none", "eval-real-none-grey"}
    table = (saved.parent / "table.md").read_text()
    assert "real masked test, in grey" in table


def test_a_missing_validation_split_is_refused_before_the_training_photos_are_read(folder_dataset, tmp_path, capsys,
                                                                                  monkeypatch):
    import fer.cli

    def no_reading(*args, **kwargs):
        raise AssertionError("the training photos were read before the splits were checked")

    monkeypatch.setattr(fer.cli, "check_images", no_reading)
    # LFW-FER folders are train/ and eval/: the default --val-split val is not there
    assert fer_main(["train", "--data", str(folder_dataset), "--model", "mobilenet_v2", "--config", "smoke",
                     "--out", str(tmp_path / "run")]) == 2
    assert "expected" in capsys.readouterr().err and not (tmp_path / "run").exists()
