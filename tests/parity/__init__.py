"""Parity with PySpark 4.3: the same programs, run on both engines, must
produce the same batches (see test_parity.py)."""
