"""The ``graphopt`` command: optimize, show, diff, passes, bench and check (one module per subcommand)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

import graphopt
from graphopt.cli import bench, check, diff, list_passes, optimize, show
from graphopt.cli.common import UsageError
from graphopt.errors import GraphoptError

EPILOG = """\
examples:
  graphopt optimize model.onnx -o model.opt.onnx         optimize at O2, check in ONNX Runtime, print a summary
  graphopt optimize model.onnx -o model.xml -O3          optimize for OpenVINO and write OpenVINO IR
  graphopt show model.onnx --no-ir                       op histogram, parameter and activation memory
  graphopt diff model.onnx model.opt.onnx                what optimization changed
  graphopt passes                                        the passes and what each level runs
  graphopt bench model.onnx --backends ort,openvino      latency before and after
  graphopt check model.onnx                              verify, optimize, compare outputs

exit status: 0 success, 1 graphopt error (bad model file, failed pass, ...), 2 bad command line,
3 outputs or models differ (check; optimize's check; diff --exit-code).
Run `graphopt COMMAND --help` for a command's options.
"""

SUBCOMMANDS = (optimize, show, diff, list_passes, bench, check)


def build_parser() -> argparse.ArgumentParser:
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("-v", "--verbose", action="store_true", help="log what happens; show tracebacks on errors")
    shared.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser = argparse.ArgumentParser(
        prog="graphopt", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="graphopt: a graph-optimizing compiler for deep-learning models "
                    "(ONNX, TorchScript, torch.export in; ONNX, OpenVINO, TensorRT out).")
    parser.add_argument("--version", action="version", version=f"graphopt {graphopt.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(commands, [shared])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version (0) and usage errors (2)
        return e.code if isinstance(e.code, int) else 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(name)s: %(levelname)s: %(message)s" if args.verbose else "graphopt: %(message)s")
    try:
        return int(args.run(args))
    except UsageError as e:
        return _fail(args, f"graphopt {args.command}: error: {e}", 2)
    except GraphoptError as e:
        return _fail(args, f"graphopt: error: {e}", 1)
    except KeyboardInterrupt:
        print("graphopt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `graphopt show m.onnx | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as e:
        return _fail(args, f"graphopt: error: {e}", 1)
    except Exception as e:  # a bug in graphopt: say so briefly, with the traceback only on request
        return _fail(args, f"graphopt: internal error: {type(e).__name__}: {e} "
                           f"(rerun with --verbose for the traceback, and please report it)", 1)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if args.verbose:
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
