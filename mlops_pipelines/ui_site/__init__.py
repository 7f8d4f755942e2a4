"""Not imported: the directory `mlops-pipelines ui` puts first on PYTHONPATH for `sitecustomize`.

A package only so that the file ships with the rest of mlops_pipelines.
"""
