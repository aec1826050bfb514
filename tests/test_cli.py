"""The graphopt command: every subcommand on the bundled example, bad arguments, bad files, exit codes
(0 ok, 1 graphopt error, 2 usage, 3 outputs/models differ) and no tracebacks without --verbose."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from graphopt.cli import main, progress
from graphopt.ir.core import Graph
from graphopt.passes import graph_pass, registered_passes

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "tiny_cnn.onnx"


@graph_pass("test-cli-scale-outputs", level=3)
def scale_outputs(graph: Graph, *, scale: float = 1.5) -> bool:
    """Deliberately wrong: scales the first output (for check's mismatch path)."""
    out = graph.outputs[0]
    mul = graph.add("Mul", [out, graph.add_constant(np.array(scale, np.float32))])
    mul.output.type = out.type
    graph.set_output(0, mul.output)
    return True


@graph_pass("test-cli-crash")
def crash(graph: Graph) -> bool:
    """Deliberately crashes, as a buggy pass would."""
    raise ZeroDivisionError("boom")


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_ort(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})[0]


# -- optimize ------------------------------------------------------------------------------------


def test_optimize_prints_the_summary_and_writes_a_checked_model(tmp_path, capsys):
    out = tmp_path / "out.onnx"
    code, text, err = cli(capsys, "optimize", EXAMPLE, "-o", out, "--print-ir", "--dims", "N=4")
    assert code == 0, err
    assert "graph tiny_cnn(" in text and "graphopt::FusedConv" in text  # the IR
    table = text[text.index("op "):text.index("stage ")]
    assert [line.split() for line in table.splitlines() if line.startswith(("BatchNormalization", "total"))] == \
        [["BatchNormalization", "3", "0", "-3"], ["total", "14", "9", "-5"]]
    for stage in ("load", "passes: pre", "passes: optimize", "passes: post", "emit + write", "check"):
        assert f"\n{stage} " in text
    assert "memory plan: planned peak" in text and " 9 tensors" in text  # --dims N=4 sizes every tensor
    assert "probs" in text.split("check: written model in ONNX Runtime")[1] and "yes" in text
    assert text.rstrip().endswith(f"wrote {out}")
    onnx.checker.check_model(str(out), full_check=True)
    x = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(run_ort(out, x), run_ort(EXAMPLE, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("args", [["-O0"], ["-O1"], ["-O3"], ["--pipeline", "O1,fuse-activation"],
                                  ["--disable", "fuse-activation,cse", "--disable", "dce"],
                                  ["--target", "onnxruntime"], ["--check-numerics"]])
def test_optimize_levels_pipelines_disables_targets(tmp_path, capsys, args):
    out = tmp_path / "out.onnx"
    code, text, err = cli(capsys, "optimize", EXAMPLE, "-o", out, *args)
    assert code == 0, err
    nodes = {n.op_type for n in onnx.load(out).graph.node}
    if args in (["-O0"], ["-O1"]):
        assert ("BatchNormalization" in nodes) == (args == ["-O0"])
        assert "memory plan: none" in text
    if args[0] == "--disable":
        assert "graphopt::FusedConv" not in text and "memory plan: planned" in text
    if args[0] == "--target":
        assert "target onnxruntime" in text


def test_input_shape_fixes_symbolic_dims_before_optimizing(tmp_path, capsys):
    out = tmp_path / "out.onnx"
    code, text, err = cli(capsys, "optimize", EXAMPLE, "-o", out, "--input-shape", "image:2x3x32x32")
    assert code == 0, err
    model = onnx.load(out)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, 32, 32]
    assert [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == [2, 10]
    assert " 9 tensors" in text  # static shapes: the memory plan covers every intermediate tensor
    # overriding a static dim re-infers the shapes downstream (the convolutions are size-agnostic)
    code, text, err = cli(capsys, "show", EXAMPLE, "--input-shape", "image:1x3x64x64")
    assert code == 0, err
    assert "f32[1,16,32,32] = Conv(%image" in text


@pytest.mark.parametrize(("text", "parsed"), [("image:1x3x224x224", ("image", (1, 3, 224, 224))),
                                               ("x:Nx3x?x?", ("x", ("N", 3, None, None))),
                                               ("ids:batch,max_len", ("ids", ("batch", "max_len"))),
                                               ("scope/in:0:2x2", ("scope/in:0", (2, 2))), ("scalar:", ("scalar", ()))])
def test_input_shape_syntax(text, parsed):
    from graphopt.cli.common import parse_input_shape

    assert parse_input_shape(text) == parsed


def test_optimize_writes_openvino_ir(tmp_path, capsys):
    pytest.importorskip("openvino")
    out = tmp_path / "m.xml"
    code, text, err = cli(capsys, "optimize", EXAMPLE, "-o", out)
    assert code == 0, err
    assert "target openvino, written as openvino" in text and "written model in OpenVINO" in text
    assert out.exists() and out.with_suffix(".bin").exists()


def test_tensorrt_engine_without_tensorrt_is_a_clean_error(tmp_path, capsys):
    try:
        import tensorrt

        if hasattr(tensorrt, "Builder"):
            pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    out = tmp_path / "m.engine"
    code, _, err = cli(capsys, "optimize", EXAMPLE, "-o", out, "--input-shape", "image:1x3x32x32")
    assert code == 1
    assert err.startswith("graphopt: error:") and "tensorrt" in err.lower() and "Traceback" not in err
    assert not out.exists()


def test_check_mismatch_in_optimize_deletes_the_output_and_exits_3(tmp_path, capsys):
    out = tmp_path / "out.onnx"
    code, text, _ = cli(capsys, "optimize", EXAMPLE, "-o", out, "--pipeline", "O1,test-cli-scale-outputs")
    assert code == 3
    assert "NO" in text and "not written" in text and not out.exists()
    code, _, _ = cli(capsys, "optimize", EXAMPLE, "-o", out, "--pipeline", "O1,test-cli-scale-outputs", "--no-check")
    assert code == 0 and out.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "out.txt"], "cannot tell the output format from '.txt'"),
    (["-o", "out.xml", "--target", "onnxruntime"], "a .xml file cannot hold a graph optimized for --target onnxrun"),
    (["-o", "out.onnx", "--disable", "cse,dcee"], "no pass named 'dcee'; did you mean dce"),
    (["-o", "out.onnx", "--pipeline", "O1,nope"], "no pass named 'nope'"),
    (["-o", "out.onnx", "--pipeline", "fold-constants{max-bytes=lots}"], "expected int"),
    (["-o", "out.onnx", "--input-shape", "img:1x3x32x32"], "the model has no input 'img' (its inputs: image)"),
    (["-o", "out.onnx", "--input-shape", "image:1x3x32"], "declares rank 4"),
    (["-o", "out.onnx", "--dims", "N=big"], "write it as N=8,S=128"),
])
def test_optimize_usage_errors_exit_2(tmp_path, capsys, args, message):
    args = [str(tmp_path / a) if a.startswith("out.") else a for a in args]
    code, _, err = cli(capsys, "optimize", EXAMPLE, *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args", [
    ["optimize", EXAMPLE],  # no -o
    ["optimize", EXAMPLE, "-o", "x.onnx", "-O5"],
    ["optimize", EXAMPLE, "-o", "x.onnx", "-O1", "--pipeline", "O2"],
    ["optimize", EXAMPLE, "-o", "x.onnx", "--target", "tpu"],
    ["optimize", EXAMPLE, "-o", "x.onnx", "--input-shape", "image:1x3xbig!"],
    ["optimize", "no/such/model.onnx", "-o", "x.onnx"],
    ["frobnicate"],
    [],
])
def test_argparse_usage_errors_exit_2(capsys, args):
    code, _, err = cli(capsys, *args)
    assert code == 2
    assert "usage:" in err and "Traceback" not in err


def test_bad_files_exit_1_without_traceback_unless_verbose(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01garbage")
    for command in (["show", bad], ["check", bad], ["optimize", bad, "-o", tmp_path / "o.onnx"],
                    ["diff", bad, EXAMPLE], ["bench", bad]):
        code, _, err = cli(capsys, *command)
        assert code == 1, command
        assert "not a valid ONNX protobuf" in err and "Traceback" not in err
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(EXAMPLE.read_bytes()[:3000])
    code, _, err = cli(capsys, "show", truncated)
    assert code == 1 and err.startswith("graphopt: error:") and "Traceback" not in err
    unknown = tmp_path / "model.tflite"
    unknown.write_bytes(b"x")
    code, _, err = cli(capsys, "show", unknown)
    assert code == 1 and "unsupported model file type '.tflite'" in err
    code, _, err = cli(capsys, "show", bad, "--verbose")
    assert code == 1 and "Traceback" in err and "not a valid ONNX protobuf" in err


def test_a_crashing_pass_is_named_and_exits_1(tmp_path, capsys):
    code, _, err = cli(capsys, "optimize", EXAMPLE, "-o", tmp_path / "o.onnx", "--pipeline", "O1,test-cli-crash")
    assert code == 1
    assert "pass 'test-cli-crash' crashed with ZeroDivisionError: boom" in err and "Traceback" not in err


def test_unwritable_output_is_an_error_not_a_traceback(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli(capsys, "optimize", EXAMPLE, "-o", blocker / "out.onnx")
    assert code == 1 and err.startswith("graphopt: error:") and "Traceback" not in err


def test_dump_dir_from_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRAPHOPT_DUMP_DIR", str(tmp_path / "dump"))
    code, _, err = cli(capsys, "optimize", EXAMPLE, "-o", tmp_path / "out.onnx", "-O1")
    assert code == 0, err
    assert (tmp_path / "dump" / "index.html").exists()
    assert (tmp_path / "dump" / "000_input.txt").read_text().startswith("graph")


# -- show, diff, passes ----------------------------------------------------------------------------


def test_show_prints_ir_histogram_and_memory(capsys):
    code, text, _ = cli(capsys, "show", EXAMPLE)
    assert code == 0
    assert text.startswith("graph tiny_cnn(")
    assert "Conv x3" in text and "\nConv                    3    21%" in text
    assert "parameters: 17 constants, 5,402 elements, 21.1 KiB (largest: block1a.w f32[16,16,3,3], 9.0 KiB)" in text
    assert "not counted: 14 tensors of unknown size" in text  # batch N is symbolic
    code, text, _ = cli(capsys, "show", EXAMPLE, "--no-ir", "--dims", "N=1")
    assert code == 0 and not text.startswith("graph tiny_cnn(")
    # batch 1: every conv output is 16x16x16 float32 = 16 KiB; Relu and BatchNorm outputs share bytes in place
    assert "live-set lower bound:  48.0 KiB" in text and "not counted" not in text


def test_diff_of_a_model_and_its_optimized_form(tmp_path, capsys):
    out = tmp_path / "o1.onnx"
    assert cli(capsys, "optimize", EXAMPLE, "-o", out, "-O1")[0] == 0
    code, text, _ = cli(capsys, "diff", EXAMPLE, out)
    assert code == 0
    assert text.startswith("first difference: 17 constants vs 8")
    assert [line.split()[-1] for line in text.splitlines() if line.startswith(("BatchNormalization", "total"))] == \
        ["-3", "-3"]
    assert f"--- {EXAMPLE}" in text and "-  %stem.bn: f32[N,16,16,16] = BatchNormalization(" in text
    code, text, _ = cli(capsys, "diff", EXAMPLE, out, "--stat", "--exit-code")
    assert code == 3 and f"--- {EXAMPLE}" not in text
    code, text, _ = cli(capsys, "diff", EXAMPLE, EXAMPLE, "--exit-code")
    assert code == 0 and "structurally equal" in text


def test_passes_lists_every_registered_pass(capsys):
    code, text, _ = cli(capsys, "passes")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in text.split("\n\n")[0].splitlines()[2:]}
    assert set(rows) == set(registered_passes())
    assert rows["fold-constants"][1:5] == ["O1", "pre", "all", "O1,O2,O3"]
    assert rows["layout"][1:5] == ["O3", "post", "all", "O3"]
    assert rows["test-cli-crash"][4:7] == ["by", "name", "only"]
    assert re.search(r"\nfold-constants +max-bytes=1048576\n", text)
    code, text, _ = cli(capsys, "passes", "--stage", "post")
    assert code == 0 and "plan-memory" in text and "fold-constants" not in text


# -- bench and check -------------------------------------------------------------------------------


def test_bench_reports_medians_and_speedup(capsys):
    code, text, err = cli(capsys, "bench", EXAMPLE, "--runs", "5", "--warmup", "1")
    assert code == 0, err
    row = next(line for line in text.splitlines() if line.startswith("ort "))
    assert row.split()[-1] == "yes" and row.split()[-2].endswith("x")
    assert "5 runs each after 1 warm-up, 1 thread" in text


def test_bench_on_openvino(capsys):
    pytest.importorskip("openvino")
    code, text, err = cli(capsys, "bench", EXAMPLE, "--backends", "openvino", "--runs", "3", "--warmup", "1")
    assert code == 0, err
    assert next(line for line in text.splitlines() if line.startswith("openvino ")).endswith("yes")


@pytest.mark.parametrize(("args", "message"), [(["--backends", "tpu"], "choose from ort, openvino"),
                                               (["--runs", "0"], "needs at least one run")])
def test_bench_usage_errors(capsys, args, message):
    code, _, err = cli(capsys, "bench", EXAMPLE, *args)
    assert code == 2 and message in err


def test_check_passes_on_the_example(capsys):
    code, text, err = cli(capsys, "check", EXAMPLE, "-O3", "--trials", "3")
    assert code == 0, err
    assert "verifies (14 nodes)" in text and text.rstrip().endswith("check passed")
    assert len([line for line in text.splitlines() if line.startswith("probs")]) == 3


def test_check_fails_with_3_and_names_the_pass(capsys):
    code, text, _ = cli(capsys, "check", EXAMPLE, "--pipeline", "O1,test-cli-scale-outputs")
    assert code == 3
    assert "check FAILED: pass 'test-cli-scale-outputs' changed output 'probs'" in text


# -- help and progress -----------------------------------------------------------------------------


def test_help_reads_well(capsys):
    code, text, _ = cli(capsys, "--help")
    assert code == 0
    for command in ("optimize", "show", "diff", "passes", "bench", "check", "exit status"):
        assert command in text
    for command in ("optimize", "show", "diff", "passes", "bench", "check"):
        code, text, _ = cli(capsys, command, "--help")
        assert code == 0 and "examples:" in text and f"graphopt {command}" in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    tty, pipe = _Terminal(), io.StringIO()
    for stream in (tty, pipe):
        bar = progress.Progress("bench", 4, stream=stream)
        for i in range(4):
            bar.update(i + 1, "x")
        bar.close()
    assert pipe.getvalue() == ""
    assert "\rbench [######------------------] 1/4 x" in tty.getvalue()
    assert "[########################] 4/4" in tty.getvalue() and tty.getvalue().endswith("\r")


def test_pipeline_progress_follows_stages_and_rounds(monkeypatch):
    import graphopt
    from graphopt.passes import build_stages

    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    stream = _Terminal()
    slots = [(s.name, [p.name for p in s.passes]) for s in build_stages("O2")]
    bar = progress.Progress("optimizing", 0, stream=stream)
    graphopt.optimize(graphopt.load(EXAMPLE), "O2", instruments=[progress.PipelineProgress(slots, bar)])
    drawn = stream.getvalue()
    assert "pre: infer-shapes" in drawn and "pre: infer-shapes, round 2" in drawn
    assert "optimize: fuse-activation" in drawn and "post: plan-memory" in drawn
    assert "post: plan-memory, round" not in drawn


def test_installed_command_runs_as_a_program(tmp_path):
    """The console script: a real process, its exit code and its streams."""
    exe = Path(sys.executable).parent / "graphopt"
    proc = subprocess.run([str(exe), "show", str(tmp_path / "missing.onnx")], capture_output=True, text=True)
    assert proc.returncode == 2 and "no such file" in proc.stderr and proc.stdout == ""
    proc = subprocess.run([str(exe), "optimize", str(EXAMPLE), "-o", str(tmp_path / "o.onnx"), "-q"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "wrote" in proc.stdout and proc.stderr == ""
    proc = subprocess.run([str(exe), "show", str(EXAMPLE), "--no-ir", "--input-shape", "image:1x3x64x64"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "input  image: f32[1,3,64,64]" in proc.stdout
    assert proc.stderr == ("graphopt: --input-shape image: overriding the model's static shape f32[N,3,32,32]; "
                           "a model traced at that shape may not compute at another\n")


@pytest.mark.slow
def test_torch_models_go_through_the_command(tmp_path, capsys):
    """.pt2 (torch.export) and .pt (TorchScript, whose inputs carry no shapes until --input-shape gives them)."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn, self.fc = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), \
                torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))

    net, x = Net().eval(), torch.randn(2, 3, 16, 16)
    torch.export.save(torch.export.export(net, (x,)), str(tmp_path / "m.pt2"))
    torch.jit.trace(net, x).save(str(tmp_path / "m.pt"))
    code, text, err = cli(capsys, "optimize", tmp_path / "m.pt2", "-o", tmp_path / "a.onnx")
    assert code == 0, err
    assert "BatchNormalization" not in {n.op_type for n in onnx.load(tmp_path / "a.onnx").graph.node}
    code, _, err = cli(capsys, "optimize", tmp_path / "m.pt", "-o", tmp_path / "b.onnx")
    assert code == 1 and "give it one with --input-shape x:" in err and not (tmp_path / "b.onnx").exists()
    code, text, err = cli(capsys, "check", tmp_path / "m.pt", "--input-shape", "x:2x3x16x16")
    assert code == 0, err
    assert text.rstrip().endswith("check passed")
    session = ort.InferenceSession(str(tmp_path / "a.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0], net(x).numpy(),
                                   rtol=1e-4, atol=1e-5)
