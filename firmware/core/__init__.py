"""Sans-IO protocol core: SIP, SDP, RTP, G.711, DTMF, jitter buffer and door logic.

Bytes, commands and the current time go in; bytes to send, events and the next deadline come out.
Nothing here touches sockets, clocks, threads or hardware, and everything runs under MicroPython.
"""
