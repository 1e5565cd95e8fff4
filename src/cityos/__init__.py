"""CityOS: an open-source operating platform for a citizen-centred smart city."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cityos")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
