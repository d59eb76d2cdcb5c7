"""`python -m ml`: every command has help, runs without Django, and fails with a clear message."""

import csv
import json
import subprocess
import sys

import pytest

from ml.cli import build_parser, main, train_config_from_args
from tests.images import png_bytes

COMMANDS = ["demo-data", "analyse", "split", "train", "evaluate", "predict", "explain"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage: python -m ml " + command in capsys.readouterr().out


def test_the_cli_runs_in_a_fresh_interpreter_without_importing_django(tmp_path):
    code = ("import sys; from ml.cli import main; rc = main(['analyse', sys.argv[1], '--out', sys.argv[2]]); "
            "assert 'django' not in sys.modules and 'celery' not in sys.modules, 'ml imported django'; sys.exit(rc)")
    (tmp_path / "d" / "REAL").mkdir(parents=True)
    (tmp_path / "d" / "REAL" / "a.png").write_bytes(png_bytes())
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "d"), str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "o" / "analysis.json").read_text())["counts"]["class"] == {"real": 1}


def test_a_missing_dataset_exits_with_status_2_and_says_what_to_do(tmp_path, capsys):
    assert main(["analyse", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No dataset at") and "folder or a .csv manifest" in err


def test_train_without_data_is_refused_with_the_option_to_use(capsys):
    assert main(["train", "--out", "x"]) == 2
    assert "--data" in capsys.readouterr().err


def test_train_options_override_a_config_file(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"data": "d", "epochs": 9, "lr": 0.5, "jpeg_prob": 0.1,
                                                 "preprocess": {"input_size": 96, "train_crop": 48}}))
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "c.json"), "--lr", "0.01",
                                      "--blur-prob", "0.3", "--blur-sigma", "0.5,2", "--train-crop", "32",
                                      "--init-checkpoint", "runs/base/model.pt"])
    config = train_config_from_args(args)
    assert config.init_checkpoint == "runs/base/model.pt"
    assert (config.data, config.epochs, config.lr, config.jpeg_prob) == ("d", 9, 0.01, 0.1)
    assert (config.blur_prob, config.blur_sigma) == (0.3, (0.5, 2.0))
    assert (config.preprocess.input_size, config.preprocess.train_crop) == (96, 32)


def test_a_config_file_with_an_unknown_key_is_refused(tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps({"data": "d", "epoch": 3}))
    assert main(["train", "--config", str(tmp_path / "c.json")]) == 2
    assert "Unknown training config key(s): epoch" in capsys.readouterr().err


def test_split_writes_a_manifest_that_train_can_read(tmp_path, capsys):
    for cls in ("REAL", "FAKE"):
        (tmp_path / "d" / cls).mkdir(parents=True)
        for i in range(10):
            (tmp_path / "d" / cls / f"{i}.png").write_bytes(png_bytes((8, 8), seed=i + (100 if cls == "FAKE" else 0)))
    assert main(["split", str(tmp_path / "d"), "--out", str(tmp_path / "split.csv"), "--seed", "3"]) == 0
    rows = list(csv.DictReader((tmp_path / "split.csv").open()))
    assert len(rows) == 20
    assert {(r["label"], r["split"]) for r in rows} >= {("real", "train"), ("ai_generated", "test")}
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["train"] == {"real": 7, "ai_generated": 7}


def test_evaluate_and_explain_write_their_files(tiny_checkpoint, tmp_path, capsys):
    data = tiny_checkpoint.parent.parent / "data"
    assert main(["evaluate", "--checkpoint", str(tiny_checkpoint), "--data", str(data), "--device", "cpu",
                 "--json", str(tmp_path / "eval.json"), "--out", str(tmp_path / "plots")]) == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    assert {"accuracy", "roc_auc", "ece", "by_source", "by_generator", "confusion_matrix"} <= result.keys()
    assert sorted(p.name for p in (tmp_path / "plots").glob("*.png")) == [
        "confusion_matrix.png", "reliability.png", "roc_curve.png"]
    capsys.readouterr()

    assert main(["explain", "--checkpoint", str(tiny_checkpoint), "--data", str(data), "--limit", "3",
                 "--device", "cpu", "--out", str(tmp_path / "cams")]) == 0
    index = json.loads((tmp_path / "cams" / "explanations.json").read_text())
    assert len(index) == 3
    for row in index:
        assert (tmp_path / "cams" / row["overlay"]).is_file() and (tmp_path / "cams" / row["heatmap"]).is_file()
        assert row["true_label"] in ("real", "ai_generated")


@pytest.mark.parametrize("command", [["evaluate", "--data", "."], ["predict", "x.png"], ["explain", "--out", "o", "x.png"]])
def test_a_missing_checkpoint_is_an_error_message_not_a_traceback(command, tmp_path, capsys):
    argv = [command[0], "--checkpoint", str(tmp_path / "missing.pt"), *command[1:]]
    assert main(argv) == 2
    assert "Checkpoint not found" in capsys.readouterr().err
