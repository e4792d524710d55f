"""Ended calls are freed by reference counting, not left to CPython's cyclic garbage collector
(a door runs for months; a burst of calls must not grow the heap until a full collection)."""

import gc

from firmware.core.sip.call import Call
from firmware.core.sip.dialog import Dialog
from firmware.core.sip.events import Hangup, PlaceCall
from firmware.core.sip.transaction import Transaction
from tests.core.sipnet import FLAT
from tests.core.test_sip_call import DOOR, DOOR_RTP, TARGET, established, pair


def _alive(kind):
    return sum(1 for obj in gc.get_objects() if isinstance(obj, kind))


def test_ended_and_refused_calls_leave_no_reference_cycles():
    gc.collect()
    gc.disable()  # what is left over now can only have been freed by reference counting
    try:
        net = pair()
        for _ in range(3):
            call_id = established(net)
            # A second caller while the flat is busy in this call: refused (486) and ACKed.
            net.node(FLAT).config.max_calls = 1
            net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
            net.run_for(100)
            assert _alive(Call) >= 2  # the call at both ends (and the refused one, in Timer D)
            net.send(DOOR, Hangup(call_id))
            net.run_for(100)
        net.run_for(40000)  # past every transaction timer (64*T1)
        assert [m.status for _, m in net.sent(src=FLAT, start="SIP/2.0")].count(486) == 3
        for addr in net.events:
            net.take_events(addr)
        assert [_alive(kind) for kind in (Call, Dialog, Transaction)] == [0, 0, 0]
    finally:
        gc.enable()
