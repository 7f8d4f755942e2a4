"""`mlops-pipelines init DATA_FILE [--target COL] [--time COL] [--out spec.yaml]`: draft a spec.

Profiles the file (lib/onboarding/profile.py): how to read it (CSV separator and header,
compressed CSV, Parquet, JSON lines, ARFF), each column's type, the time axis (datetime text,
epoch seconds or milliseconds, an integer year with a month column, or none), a grain from the
data's density and the task from the target. ID-like, constant and target-leaking columns go to
features.exclude, near-constant ones are noted, possible sensitive attributes are suggested in
a comment. The written spec is parsed before the command reports success.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path


def add_init_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser(
        "init",
        help="profile a data file and write a commented project spec",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    init.add_argument("data_file", help="CSV (also .gz/.bz2/.zip/.xz), Parquet, JSON lines or ARFF")
    init.add_argument(
        "--target",
        help="the column to predict (default: a target-like name, else the last usable column; "
        "never a time, an ID or a constant)",
    )
    init.add_argument("--time", help="the time column (default: detected; none means rows arrive in order)")
    init.add_argument("--out", help="spec file to write (default: <name>.yaml here)")
    init.add_argument("--name", help="project name (default: from the file name)")
    init.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    init.set_defaults(func=run_init)


def project_name(path: Path) -> str:
    stem = path.name.split(".")[0]
    slug = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")[:62] or "project"
    return slug if slug[0].isalpha() else f"p_{slug}"[:63]


def _say(text: str, err: bool = False) -> None:
    (sys.stderr if err else sys.stdout).write(f"{text}\n")


def run_init(args: argparse.Namespace) -> int:
    import yaml

    from mlops_pipelines.lib.ingestion.source_files import SourceError
    from mlops_pipelines.lib.onboarding.draft import draft_spec, render
    from mlops_pipelines.lib.onboarding.profile import profile_file
    from mlops_pipelines.lib.time_axis import TimeAxisError
    from mlops_pipelines.spec import SpecError, parse_spec

    data = Path(args.data_file).expanduser().resolve()
    if not data.is_file():
        _say(f"mlops-pipelines init: data file {args.data_file} not found", err=True)
        return 1
    name = args.name or project_name(data)
    out = Path(args.out or f"{name}.yaml")
    if out.exists() and not args.force:
        _say(f"mlops-pipelines init: {out} exists; pass --force to overwrite it", err=True)
        return 1
    try:
        profile = profile_file(data, target=args.target, time=args.time)
    except (SourceError, TimeAxisError, ValueError) as err:
        _say(f"mlops-pipelines init: {err}", err=True)
        return 1
    spec, notes = draft_spec(profile, name, str(data.parent))
    if profile.target_note:  # a guess to check first: reported, and kept as a comment in the spec
        notes.insert(0, profile.target_note)
    text = render(spec, profile, notes)
    try:
        parse_spec(yaml.safe_load(text), out)
    except SpecError as err:  # a drafting bug: say so rather than write a spec that cannot load
        _say(f"mlops-pipelines init: the drafted spec does not validate:\n{err}", err=True)
        return 1
    out.write_text(text, encoding="utf-8")
    _say(
        f"{out}: {name}, {profile.task} on '{profile.target}', {profile.rows} rows x {len(profile.columns)} columns"
    )
    for note in notes:
        _say(f"  {note}")
    _say(f"next: mlops-pipelines validate-spec --data {data.parent} {out}")
    return 0
