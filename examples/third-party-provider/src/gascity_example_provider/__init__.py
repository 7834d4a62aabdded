"""An example third-party Gas City plugin: the ``nohup`` session provider.

Importing this package is cheap (standard library and ``gascity`` only), as every
plugin's must be: Gas City reads entry points without importing, and imports only the
provider a city selects.
"""

from __future__ import annotations

from .provider import NohupProvider
from .settings import NohupSettings

__all__ = ["NohupProvider", "NohupSettings"]
__version__ = "0.1.0"
