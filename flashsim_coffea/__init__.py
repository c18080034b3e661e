"""flashsim-coffea: ML end-to-end fast simulation for CMS.

The engine turns generator-level NanoAOD collections into reconstructed NanoAOD v12
collections. It imports neither coffea nor dask; ``processors/`` adapts it to coffea.
"""

__version__ = "0.1.0"
