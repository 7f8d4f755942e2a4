"""State upkeep of one project: Delta compaction and vacuum that keep every pinned version,
and a retention rule for rendered reports (`stage.maintain_project` is the entry point)."""
