"""The graphopt command on the bundled example and on bad input."""

from __future__ import annotations

from pathlib import Path

import onnx

from graphopt.cli import main

EXAMPLE = Path(__file__).parents[1] / "examples" / "tiny_cnn.onnx"


def test_optimize_prints_summary_and_writes_a_valid_model(tmp_path, capsys):
    out = tmp_path / "out.onnx"
    assert main(["optimize", str(EXAMPLE), "-o", str(out), "--print-ir"]) == 0
    text = capsys.readouterr().out
    assert "graph tiny_cnn(" in text or "graph 'tiny_cnn'" in text
    worst = float(text.split("max abs difference ")[1].split()[0])
    assert worst < 1e-5  # O2 folds BatchNorm into the convolutions: not bit-exact
    assert "graphopt::FusedConv" in text
    onnx.checker.check_model(str(out), full_check=True)


def test_show_and_bad_files(tmp_path, capsys):
    assert main(["show", str(EXAMPLE)]) == 0
    assert "Conv x3" in capsys.readouterr().out
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01garbage")
    assert main(["show", str(bad)]) == 1
    assert "not a valid ONNX protobuf" in capsys.readouterr().err


def test_dump_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHOPT_DUMP_DIR", str(tmp_path / "dump"))
    assert main(["optimize", str(EXAMPLE), "-o", str(tmp_path / "out.onnx"), "-p", "O1"]) == 0
    assert (tmp_path / "dump" / "index.html").exists()
    assert (tmp_path / "dump" / "000_input.txt").read_text().startswith("graph")
