"""The ``gc`` command line."""
