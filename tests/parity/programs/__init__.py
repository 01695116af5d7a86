"""Parity programs: each module builds a streaming graph with the public
PySpark API only (see parity.harness for the contract)."""
