"""Pure, typed business logic. Nothing in this package imports dagster.

Heavy libraries (great_expectations, evidently, mlflow, sklearn) are imported inside the
functions that need them so that loading the Dagster code location stays cheap.
"""
