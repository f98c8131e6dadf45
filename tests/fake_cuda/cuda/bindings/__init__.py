"""A stand-in for cuda.bindings (tests/fake_cuda/cuda/bindings/driver.py says why)."""
