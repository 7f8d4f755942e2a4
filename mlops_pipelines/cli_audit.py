"""`mlops-pipelines rollback | history | approve`: move the champion by hand, and read who moved it.

rollback and approve launch the project's Dagster job (rollback, approval) on the instance in
DAGSTER_HOME, so every hand-made move is a recorded run and a lineage event of the champion,
under the promotion lock like the gate's; the person (--by, else the OS user) and the reason
travel in the run config into the audit trail and the decision record. history reads the audit
trail from the tracking store (lib/registry/audit.py).
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any


def _spec(project: str) -> Any:
    from mlops_pipelines.spec import SpecError, load_specs

    specs = load_specs()
    if project not in specs:
        raise SpecError(f"unknown project {project!r}; known: {sorted(specs)}")
    return specs


def _person(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return "unknown"


def _run_champion_job(project: str, job_name: str, run_config: dict[str, Any]) -> Any:
    """Run a champion job in-process on DAGSTER_HOME's instance; returns the new ChampionRef.

    raise_on_error re-raises the step's own error (RollbackError, ApprovalError, ...), which
    main() prints as a known error.
    """
    import dagster as dg

    from mlops_pipelines import names
    from mlops_pipelines.definitions import build_definitions
    from mlops_pipelines.runner import run_job

    specs = _spec(project)
    defs = build_definitions(specs)
    with dg.DagsterInstance.get() as instance:
        result = run_job(
            defs, job_name, instance, run_config=run_config, raise_on_error=True, log_level="CRITICAL"
        )
    return result.output_for_node(names.scoped(project, names.CHAMPION))


def _cmd_rollback(args: argparse.Namespace) -> int:
    from mlops_pipelines.jobs import rollback_job_name, rollback_run_config

    spec = _spec(args.project)[args.project]
    config = rollback_run_config(spec, args.to, _person(args), args.reason)
    champion = _run_champion_job(args.project, rollback_job_name(spec), config)
    print(f"{args.project}: champion is now version {champion.version}")
    return 0


def _cmd_approve(args: argparse.Namespace) -> int:
    from mlops_pipelines.jobs import approval_job_name, approval_run_config

    spec = _spec(args.project)[args.project]
    config = approval_run_config(spec, str(args.version), _person(args), args.reason)
    if args.reject:
        config["ops"][next(iter(config["ops"]))]["config"]["action"] = "reject"
    champion = _run_champion_job(args.project, approval_job_name(spec), config)
    verdict = "rejected" if args.reject else "approved"
    print(f"{args.project}: version {args.version} {verdict}; champion is version {champion.version}")
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from mlops_pipelines.lib.registry.audit import read_entries
    from mlops_pipelines.lib.registry.history import (
        champion_at,
        champion_timeline,
        entry_line,
        entry_record,
        parse_time,
    )
    from mlops_pipelines.resources.environment import environment_for

    _spec(args.project)
    at = None if args.at is None else parse_time(args.at)  # a bad time fails before any store is read
    entries = read_entries(environment_for().tracking_config(), args.project)
    if at is not None:
        served = champion_at(args.project, entries, at)
        until = "now" if served.until is None else served.until.isoformat()
        if args.json:
            span = {"since": served.since.isoformat(), "until": None if served.until is None else until}
            print(
                json.dumps(
                    {
                        "project": args.project,
                        "at": at.isoformat(),
                        "version": served.version,
                        **span,
                        "entry": entry_record(served.entry),
                    }
                )
            )
        else:
            print(
                f"{args.project}: version {served.version or 'none'} served at {at.isoformat()} "
                f"(champion from {served.since.isoformat()} until {until}; {served.entry.action} by "
                f"{served.entry.actor}: {served.entry.reason})"
            )
        return 0
    if args.json:
        timeline = [
            {"version": s.version, "since": s.since.isoformat(), "until": s.until and s.until.isoformat()}
            for s in champion_timeline(entries)
        ]
        print(
            json.dumps(
                {
                    "project": args.project,
                    "champion_timeline": timeline,
                    "entries": [entry_record(e) for e in entries],
                }
            )
        )
        return 0
    if not entries:
        print(f"{args.project}: no alias has moved yet (the audit trail is empty)")
    for entry in entries:
        print(entry_line(entry))
    return 0


def add_audit_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rollback = sub.add_parser(
        "rollback", help="move champion back to previous-champion, or --to a former champion"
    )
    rollback.add_argument("--project", required=True)
    rollback.add_argument("--to", help="a former champion version, several steps back (default: one step)")
    rollback.add_argument("--by", help="who asks (default: the OS user); goes into the audit trail")
    rollback.add_argument("--reason", help="why; goes into the audit trail")
    rollback.set_defaults(func=_cmd_rollback)

    history = sub.add_parser("history", help="which model version served when, and every alias move")
    history.add_argument("--project", required=True)
    history.add_argument("--at", help="an ISO 8601 time (no zone: UTC): the champion at that instant")
    history.add_argument("--json", action="store_true")
    history.set_defaults(func=_cmd_history)

    approve = sub.add_parser("approve", help="approve (or --reject) a promotion waiting for approval")
    approve.add_argument("--project", required=True)
    approve.add_argument("--version", required=True, help="the version waiting for approval")
    approve.add_argument("--reason", required=True, help="why; goes into the decision record and audit trail")
    approve.add_argument("--by", help="who decides (default: the OS user)")
    approve.add_argument("--reject", action="store_true", help="reject instead of approving")
    approve.set_defaults(func=_cmd_approve)
