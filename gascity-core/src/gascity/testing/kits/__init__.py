"""Conformance kits: pytest base classes a plugin's tests subclass.

Each kit needs one fixture from the subclass and exercises the whole contract of its
role through the typed facade, the same way the controller will::

    from gascity.testing.kits import SessionProviderKit

    class TestMyProvider(SessionProviderKit):
        @pytest.fixture
        def session_hooks(self, tmp_path):
            plugin = MyProvider(PluginContext(role="session", name="mine", city_dir=tmp_path))
            yield hooks_for(plugin)
            plugin.close()

Knobs are class attributes (``supports_nudge = False`` ...) for providers that cannot
do something by design; the kit then checks that they *say* so (``Unsupported``)
rather than pretending.
"""

from __future__ import annotations

from .events import EventStoreKit
from .mail import MailStoreKit
from .outage import ListingOutageKit
from .sessions import OPTIONAL_SESSION_HOOKS, SessionProviderKit

__all__ = [
    "OPTIONAL_SESSION_HOOKS",
    "EventStoreKit",
    "ListingOutageKit",
    "MailStoreKit",
    "SessionProviderKit",
]
