"""`mlops-pipelines serve` and `python -m mlops_pipelines.serving` take the same flags (one definition)."""

from __future__ import annotations

import argparse

import pytest

from mlops_pipelines import cli
from mlops_pipelines.serving.arguments import add_serving_arguments, options_from, serve_from

FLAGS = [
    "--project", "bike_sharing", "--port", "9001", "--allowed-hosts", "api.example,localhost",
    "--max-queue", "7", "--score-timeout-seconds", "2.5", "--limit-concurrency", "33",
    "--hang-seconds", "4", "--log-retention-days", "3", "--no-shadow", "--runtime", "sklearn",
]  # fmt: skip


def test_serve_and_the_module_entry_point_build_the_same_options() -> None:
    module = argparse.ArgumentParser()
    add_serving_arguments(module)
    direct = module.parse_args(FLAGS)
    served = cli.build_parser().parse_args(["serve", *FLAGS])
    assert options_from(served) == options_from(direct)
    options = options_from(served)
    assert options.allowed_hosts == ("api.example", "localhost") and options.max_queue == 7
    assert (options.score_timeout_seconds, options.limit_concurrency, options.shadow) == (2.5, 33, False)
    assert (served.project, served.port) == ("bike_sharing", 9001)


def test_serve_rejects_a_bad_flag_value_like_the_module() -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--project", "p", "--max-queue", "many"])


@pytest.mark.parametrize("flag", ["--poll-seconds", "--hang-seconds"])
def test_serve_refuses_a_zero_interval_naming_it(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    """0 s between registry polls would poll (and retry a refused version) in a busy loop."""
    parser = cli.build_parser()
    args = parser.parse_args(["serve", "--project", "p", flag, "0"])
    with pytest.raises(SystemExit) as exited:
        serve_from(args, args.parser)
    assert exited.value.code == 2
    name = flag.removeprefix("--").replace("-", "_")
    assert f"ServiceOptions.{name} must be > 0, got 0.0" in capsys.readouterr().err
