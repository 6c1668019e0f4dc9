"""In-memory stand-ins for the ports of `chalicelib/services/ports.py`.

Bind them with `chalicelib.services.stores.use_stores(FakeStores(...))`. Each fake honours the
conditions its table enforces (a second entry for an event id is refused, a head written from a
stale `seq` is refused, ...); the contract tests under tests/integration/contracts run the same
assertions against the fake and against DynamoDB Local, so the two cannot drift apart.
"""

from tests.fakes.stores import FakeStores

__all__ = ["FakeStores"]
