"""Offline, strict checks of Kubernetes objects against the kubernetes client's models.

The client's own `deserialize` drops fields it does not know, so a misspelled `readinesProbe`
would pass it silently. `problems` walks the object along each model's `attribute_map` and
`openapi_types` instead: an unknown field, a wrong type or a list where an object belongs is a
problem naming its path (and the nearest real field name). `deserialize` then builds the models,
which refuses a missing required field (a container without a name).
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import yaml

_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict[(\[]([^,]+), (.+)[)\]]$")  # dict(str, str) or dict[str, str]
_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "datetime": (str,),
    "date": (str,),
}


def model_name(api_version: str, kind: str) -> str:
    """`apps/v1` + `Deployment` -> `V1Deployment`; `autoscaling/v2` -> `V2HorizontalPodAutoscaler`."""
    version = api_version.rsplit("/", 1)[-1]
    name = version[:1].upper() + version[1:] + kind
    if not hasattr(k8s, name):
        raise ValueError(f"no kubernetes model for apiVersion {api_version!r} kind {kind!r}")
    return name


def problems(data: Any, type_name: str, path: str = "") -> list[str]:
    """Everything in `data` that does not fit the kubernetes client type `type_name`."""
    where = path or "<root>"
    if type_name == "object":  # int-or-string and free-form fields
        return []
    if match := _LIST.match(type_name):
        if not isinstance(data, list):
            return [f"{where}: expected a list, got {type(data).__name__}"]
        return [p for i, item in enumerate(data) for p in problems(item, match[1], f"{path}[{i}]")]
    if match := _DICT.match(type_name):
        if not isinstance(data, dict):
            return [f"{where}: expected a mapping, got {type(data).__name__}"]
        return [p for key, value in data.items() for p in problems(value, match[2], f"{path}.{key}")]
    if type_name in _PRIMITIVES:
        wanted = _PRIMITIVES[type_name]
        if isinstance(data, bool) and bool not in wanted:
            return [f"{where}: expected {type_name}, got bool"]
        return [] if isinstance(data, wanted) else [f"{where}: expected {type_name}, got {data!r}"]
    model = getattr(k8s, type_name)
    if not isinstance(data, dict):
        return [f"{where}: expected a {type_name} mapping, got {type(data).__name__}"]
    fields = {json_key: attr for attr, json_key in model.attribute_map.items()}
    found: list[str] = []
    for key, value in data.items():
        child = f"{path}.{key}" if path else key
        if key not in fields:
            near = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            found.append(f"{child}: unknown field of {type_name}{hint}")
        elif value is not None:
            found.extend(problems(value, model.openapi_types[fields[key]], child))
    return found


class _Response:
    """What `ApiClient.deserialize` reads: a body in `.data`."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.data = json.dumps(document)


def deserialize(document: dict[str, Any]) -> Any:
    """The document as its kubernetes model; raises ValueError for a missing required field."""
    name = model_name(str(document.get("apiVersion")), str(document.get("kind")))
    return k8s.ApiClient().deserialize(_Response(document), name)


def check_document(document: Any) -> list[str]:
    """Every problem of one manifest document (its kind from apiVersion and kind)."""
    if not isinstance(document, dict) or not document.get("apiVersion") or not document.get("kind"):
        return ["<root>: not a Kubernetes object (apiVersion and kind are required)"]
    try:
        name = model_name(document["apiVersion"], document["kind"])
    except ValueError as err:
        return [str(err)]
    found = problems(document, name)
    if not found:
        try:
            deserialize(document)
        except ValueError as err:
            found.append(f"{document['kind']}: {err}")
    if not (document.get("metadata") or {}).get("name"):
        found.append(f"{document['kind']}: metadata.name is required")
    return found


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a manifest file."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]
