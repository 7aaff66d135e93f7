"""The tutorial's platform test: payments taken by a real worker, its traces checked against the catalogue.

``spec_platform`` (the test kit's pytest plugin, `runtime.testing.plugin`) starts a real
orchestrator; the test starts a worker with the handler module, submits payments and waits for
them. At teardown the fixture stops everything and replays the traces: the platform's on the
platform's catalogue, the handler's on ``spec.examples.payments:SPEC`` (the marker).
"""

from __future__ import annotations

import pytest

from runtime.testing import PlatformUnderTest

pytestmark = pytest.mark.spec_catalogue("spec.examples.payments:SPEC")


def test_payments_run_on_a_real_platform(spec_platform: PlatformUnderTest) -> None:
    spec_platform.start_worker("w1", handlers=["runtime.examples.payment_handlers"])
    approved = spec_platform.submit("payment", {"approve": True})
    declined = spec_platform.submit("payment", {"approve": False})
    assert spec_platform.wait_finished(approved)["result"] == {"payment": "paid"}
    assert spec_platform.wait_finished(declined)["result"] == {"payment": "declined"}
