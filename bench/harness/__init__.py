"""The benchmark harness behind ``bench/run.py``: one module per measured method."""
