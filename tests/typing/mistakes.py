"""Mistakes a user's ``mypy --strict`` must catch: each line marked ``# error: CODE`` must be
reported with that code, and no other line (tests/typing/check.py)."""

from typing import Any

import genstatus_sync as gs
from genstatus_sync import webhooks
from genstatus_sync.celery import register


def mistakes(rivya_client: gs.RivyaClient, sellerpic_client: gs.SellerPicClient,
             sivi_client: gs.SiviClient, clipia_client: gs.ClipiaClient, app: Any) -> None:
    rivya_client.get_status("x").stauts  # error: attr-defined
    rivya_client.get_status(123)  # error: arg-type
    sellerpic_client.get_status(12.5)  # error: arg-type
    sivi_client.get_status("x").progres  # error: attr-defined
    sivi_client.poll("x", abstract_user="u")  # error: call-arg
    rivya_client.poll("x", abstract_user_id="u")  # error: call-arg
    clipia_client.get_result("r").outputs  # error: attr-defined
    clipia_client.wait("r").result_url  # error: attr-defined
    rivya_client.wait("x", timeout="10")  # error: arg-type
    gs.RivyClient  # error: attr-defined
    gs.wait_all([(rivya_client, "a")], max_in_flight="8")  # error: arg-type
    rivya_client.step(rivya_client.wait_token("x")).retry  # error: attr-defined
    gs.download("https://x.test/a.png", "out").suffixx  # error: attr-defined
    gs.download("https://x.test/a.png", "out", max_bytes="1 GB")  # error: arg-type
    rivya_client.wait("x", kind=3)  # error: arg-type
    gs.DurationHistory().add("k", "12")  # error: arg-type
    gs.RivyaClient(history="h")  # error: arg-type
    with gs.ClipiaClient() as client:
        client.get_status("r").request_idd  # error: attr-defined
    webhooks.parse("clipia", b"{}").result_url  # error: attr-defined
    webhooks.parse("clipia", "{}")  # error: arg-type
    webhooks.verify(b"{}", "sig", "secret", tolerance="300")  # error: arg-type
    register(app, on_done="d").start("rivya", "x", timeout="60")  # error: arg-type
    register(app, on_done="d", max_countdown="60")  # error: arg-type
    register(app)  # error: call-arg
