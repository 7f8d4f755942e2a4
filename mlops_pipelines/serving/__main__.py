"""`python -m mlops_pipelines.serving --project P --port N`: the service as its own process."""

from __future__ import annotations

import argparse

from mlops_pipelines.serving.arguments import add_serving_arguments, serve_from


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mlops_pipelines.serving", description=__doc__)
    add_serving_arguments(parser)
    serve_from(parser.parse_args(argv), parser)


if __name__ == "__main__":
    main()
