"""Sub-commands of the ``xgenda`` command line (one module each, see :mod:`xgenda.cli`)."""
