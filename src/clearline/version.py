"""Clearline's version: one place, read by the facade, the CLI's --version, the
language server and a cluster's check that its workers run the same release."""

__version__ = "0.1.0"
