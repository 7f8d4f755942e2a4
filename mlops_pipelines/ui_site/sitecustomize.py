"""Run at start-up by every process `mlops-pipelines ui` starts (it puts this directory first on
PYTHONPATH): the webserver, the daemon, the code server and the run workers.

It fixes one thing, in Dagster 1.13.27: newest-first partition pages (what the UI's Partitions
tab and by-partition plots read) start from today even when the definition ends earlier, so a
finished dataset shows years of partitions past its end and plots with no points. Paged from
the definition's end instead, they end where the data does. The fix is applied only when
Dagster's time-window module loads, so processes that never use it pay nothing.
"""

import importlib.abc
import importlib.util
import sys
from typing import Any

_TARGET = "dagster._core.definitions.partitions.definition.time_window"


def capped_pages(original: Any) -> Any:
    """`get_paginated_partition_keys` that pages from the definition's end when it has passed."""

    def get_paginated_partition_keys(
        self: Any, context: Any, limit: int, ascending: bool, cursor: Any = None
    ) -> Any:
        end = self.end
        now = context.temporal_context.effective_dt
        if end is not None and now.timestamp() > end.timestamp():
            temporal = type(context.temporal_context)(
                effective_dt=end, last_event_id=context.temporal_context.last_event_id
            )
            context = type(context)(
                temporal_context=temporal, dynamic_partitions_store=context.dynamic_partitions_store
            )
        return original(self, context, limit, ascending, cursor)

    return get_paginated_partition_keys


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != _TARGET:
            return None
        sys.meta_path.remove(self)  # find the real module with the other finders
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            load(module)
            cls = module.TimeWindowPartitionsDefinition
            cls.get_paginated_partition_keys = capped_pages(cls.get_paginated_partition_keys)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _PatchOnImport())
