"""Native parts of the hub, built by ``pip install`` (``scripts/setup.sh``) beside the package.

Everything else about the package is in ``pyproject.toml``; this file only declares the C
extensions. Each is optional: where no C compiler is found the install still succeeds and
the hub runs the Python path each extension mirrors (``cityos.hub._native``), which is also
the reference the tests check the native path against.
"""

from setuptools import Extension, setup

NATIVE = ["_native_expand", "_native_history", "_native_lane"]

setup(
    ext_modules=[
        Extension(
            f"cityos.hub.{name}",
            [f"src/cityos/hub/{name}.c"],
            depends=["src/cityos/hub/_native_common.h"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Werror=implicit-function-declaration"],
        )
        for name in NATIVE
    ]
)
