"""Only the optional C accelerator lives here (everything else is in pyproject.toml).

`optional=True`: without a C compiler the build skips it and the package
runs on its Python code alone (goroutines/_accel.py)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("goroutines._speedups", ["src/goroutines/_speedups.c"],
                             optional=True)])
