"""The composition layer: ``exporter.py`` wires the pipeline, ``run.py`` runs it (serve, once)."""
