"""A stand-in for the cuda-python package (tests/fake_cuda/cuda/bindings/driver.py says why)."""
