"""The firmware (`intercom run`) registers to Kamailio with digest auth over UDP and over TCP,
refreshes its binding before it runs out, and removes it on SIGTERM.

The door asks for `sip.expires = 60` (the least the config allows); this Kamailio grants at most
MAX_EXPIRES_S (registrar max_expires), so the refresh comes after a few seconds: the door must go
by the lifetime granted in the 200 (RFC 3261 10.2.4), not by the one it asked for.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.interop.peers import USERS, Kamailio, start_door, stop_door, wait_for

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

MAX_EXPIRES_S = 4


@pytest.fixture(scope="module")
def registrar(tmp_path_factory):
    kamailio = Kamailio(
        tmp_path_factory.mktemp("registrar"), USERS, max_expires_s=MAX_EXPIRES_S, deadline_s=300
    )
    with kamailio:
        yield kamailio.start()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_refresh_and_unregister_on_sigterm(registrar, stack, tmp_path, transport):
    door = start_door(stack, tmp_path, registrar, {"sip": {"expires": 60, "transport": transport}})
    registration = door.status()["registration"]
    assert registration["state"] == "REGISTERED"
    assert registration["expires_s"] == MAX_EXPIRES_S  # what was granted, not what was asked
    contact = f"sip:door@127.0.0.1:{door.sip_port};transport={transport}"
    assert registrar.contacts("door") == [contact]

    [first] = [r for r in registrar.registrations("door") if r["contact"] == f"<{contact}>"]
    cid = first["cid"]

    def accepted():
        return [r for r in registrar.registrations("door") if r["cid"] == cid]

    # Refreshes: with 4 s granted the door re-registers every second (a quarter of the lifetime,
    # as its margin for a lost REGISTER, 64*T1, is longer than half of it). Wait for two.
    seen = []
    for count in (2, 3):
        wait_for(lambda n=count: len(accepted()) >= n, 4, f"refresh REGISTER {count - 1}")
        seen.append(time.monotonic())
    assert 0.7 <= seen[1] - seen[0] <= 1.5  # lifetime / 4, and no more often
    for refresh in accepted():
        assert (refresh["expires"], refresh["transport"]) == ("60", transport)
        assert refresh["contact"] == f"<{contact}>"
    # One Call-ID for all (10.2.4); only the first REGISTER was challenged (401): the refreshes
    # carry credentials for the nonce they already have.
    sent = [r for r in registrar.requests("REGISTER") if r["cid"] == cid]
    assert len(sent) == len(accepted()) + 1
    assert {r["transport"] for r in sent} == {transport}
    time.sleep(MAX_EXPIRES_S + 0.5)  # longer than a lifetime: refreshed in time, still bound
    assert registrar.contacts("door") == [contact]

    stop_door(door)
    last = accepted()[-1]
    assert last["expires"] == "0"
    assert registrar.contacts("door") == []
    assert door.log().count("registration UNREGISTERED (200 OK)") == 1


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_the_door_registers_by_itself_once_the_pbx_is_back(stack, tmp_path, transport):
    """The PBX is down when the door starts. Over TCP the refused connect fails the REGISTER at
    once (RETRYING, backoff) and a button call fails at once too, instead of after 32 s (Timer
    F/B); over UDP the REGISTER is retransmitted. Either way the door registers when the PBX
    comes up, without help."""
    pbx = stack.enter_context(Kamailio(tmp_path / "pbx", USERS, deadline_s=60))
    door = start_door(
        stack,
        tmp_path,
        None,
        {
            "sip": {
                "register": True,
                "password": "secret",
                "registrar": f"127.0.0.1:{pbx.port}",
                "transport": transport,
            },
            "call": {"targets": [pbx.uri("flat101")]},
        },
    )
    if transport == "tcp":
        door.wait_registration("RETRYING", 2)
        assert door.status()["registration"]["reason"] == "transport error"
        door.click()
        # The attempt fails at once (busy tone), not after 32 s of ringing.
        wait_for(lambda: "ended: transport_error" in door.log(), 3, "the call to fail")
        status = door.wait_door("IDLE", 1)
        assert status["door"]["calls_this_hour"] == 1
    else:
        assert door.status()["registration"]["state"] == "REGISTERING"
    pbx.start()
    registration = door.wait_registration("REGISTERED", 10)
    assert registration["status"] == 200
    assert pbx.contacts("door") == [f"sip:door@127.0.0.1:{door.sip_port};transport={transport}"]
    stop_door(door)
    assert pbx.contacts("door") == []


def test_registers_with_sha256_digest_and_qop(stack, tmp_path):
    """RFC 8760 SHA-256 and qop=auth (Kamailio challenges users named *qop with it)."""
    pbx = stack.enter_context(Kamailio(tmp_path / "pbx", {"doorqop": "secret"}, sha256=True))
    pbx.start()
    door = start_door(stack, tmp_path, pbx, {"sip": {"user": "doorqop"}})
    assert door.status()["registration"]["status"] == 200
    credentials = re.findall(r"CREDENTIALS (.*) cid=", pbx.log())
    assert credentials and all("algorithm=SHA-256" in c and "qop=auth" in c for c in credentials)
    assert pbx.contacts("doorqop") == [f"sip:doorqop@127.0.0.1:{door.sip_port};transport=udp"]
    stop_door(door)
    assert pbx.contacts("doorqop") == []


def test_a_pbx_restart_breaks_the_tcp_connection_and_the_door_registers_again(stack, tmp_path):
    """Kamailio forgets its bindings when it restarts. Over TCP the door sees its connection
    close and registers again within seconds, instead of being unreachable until its next
    refresh (150 s with the default 300 s lifetime)."""
    pbx = stack.enter_context(Kamailio(tmp_path / "pbx", USERS, deadline_s=120))
    pbx.start()
    door = start_door(stack, tmp_path, pbx, {"sip": {"transport": "tcp", "expires": 300}})
    contact = f"sip:door@127.0.0.1:{door.sip_port};transport=tcp"
    assert pbx.contacts("door") == [contact]
    pbx.stop()
    pbx.start()
    assert pbx.contacts("door") == []
    wait_for(lambda: pbx.contacts("door") == [contact], 5, "the door to register again")
    assert door.status()["registration"]["state"] == "REGISTERED"
    stop_door(door)
