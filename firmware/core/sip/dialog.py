"""SIP dialogs (RFC 3261 section 12): identity, sequence numbers, route set and remote target.

A `Dialog` is created from the request and response that establish it (`dialog_as_uac`,
`dialog_as_uas`), builds in-dialog requests with loose (`;lr`) or strict routing (12.2.1.1), checks
the peer's CSeq (12.2.2) and takes a new remote target from a target refresh (Contact of a
re-INVITE or of its 2xx). Where a request goes is `next_hop()`; `uri_destination` turns a URI into
the ((host, port), transport) the runtime sends to.
"""

from firmware.core.sip.message import Request
from firmware.core.sip.uri import NameAddr, Uri

EARLY = "EARLY"
CONFIRMED = "CONFIRMED"
TERMINATED = "TERMINATED"


TRANSPORTS = ("udp", "tcp")


def uri_destination(uri, default_transport="udp"):
    """((host, port), transport) to send a request for uri to (RFC 3263 without DNS: the runtime
    resolves host names; maddr wins over the host, `;transport=udp|tcp` over default_transport;
    transports we do not have, such as tls or sctp, fall back to default_transport)."""
    transport = uri.transport
    if transport not in TRANSPORTS:
        transport = default_transport
    host = uri.param("maddr") or uri.host
    port = uri.port if uri.port is not None else (5061 if uri.secure else 5060)
    return (host, port), transport


def _without_tag(name_addr):
    params = [p for p in name_addr.params if p[0].lower() != "tag"]
    return NameAddr(name_addr.uri, name_addr.display_name, params)


def _contact_uri(message, fallback):
    contacts = message.contacts
    return contacts[0].uri if contacts else fallback


class Dialog:
    """One dialog, seen from our side. local_uri/remote_uri are the From/To addresses (NameAddr
    without tag); route_set is a list of NameAddr in the order requests must visit them."""

    def __init__(
        self,
        call_id,
        local_tag,
        remote_tag,
        local_uri,
        remote_uri,
        local_seq,
        remote_seq,
        remote_target,
        route_set,
        state=EARLY,
        transport="udp",
    ):
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_uri = local_uri
        self.remote_uri = remote_uri
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.remote_target = remote_target
        self.route_set = route_set
        self.state = state
        self.transport = transport  # used when the next hop's URI names none

    @property
    def id(self):
        return (self.call_id, self.local_tag, self.remote_tag or "")

    def __repr__(self):
        return "<Dialog %s %s>" % (self.id, self.state)

    def next_hop(self):
        """The URI the next in-dialog request is sent to: the first route, else the target."""
        return self.route_set[0].uri if self.route_set else self.remote_target

    def create_request(self, method, cseq=None):
        """An in-dialog request without Via (the caller adds it): Request-URI and Route by the
        route set (12.2.1.1), From/To with our/their tags, Call-ID, and CSeq: the next local
        number, or cseq when given (ACK and CANCEL reuse the INVITE's)."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        routes = self.route_set
        if routes and not routes[0].uri.has_param("lr"):
            first = routes[0].uri
            uri = Uri(first.scheme, first.user, first.host, first.port, first.params, None)
            routes = routes[1:]
            routes.append(NameAddr(self.remote_target))
        else:
            uri = self.remote_target
        request = Request(method, uri)
        for route in routes:
            request.add("Route", str(route))
        request.add("From", str(self.local_uri.with_param("tag", self.local_tag)))
        to = self.remote_uri
        if self.remote_tag is not None:
            to = to.with_param("tag", self.remote_tag)
        request.add("To", str(to))
        request.add("Call-ID", self.call_id)
        request.add("CSeq", "%d %s" % (cseq, method))
        return request

    def accept_remote_cseq(self, request):
        """Record the peer's CSeq; False when it is lower than the last one (answer 500)."""
        seq = request.cseq.seq
        if self.remote_seq is not None and seq < self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def refresh_target(self, message):
        """A target refresh request or its 2xx: take the new Contact (12.2.1.2, 12.2.2)."""
        self.remote_target = _contact_uri(message, self.remote_target)


def dialog_as_uac(request, response):
    """The dialog our request (INVITE) and a 1xx/2xx with a To tag establish (12.1.2)."""
    routes = list(response.record_routes)
    routes.reverse()
    return Dialog(
        request.call_id,
        request.from_.tag,
        response.to.tag,
        _without_tag(request.from_),
        _without_tag(response.to),
        request.cseq.seq,
        None,
        _contact_uri(response, request.uri),
        routes,
        CONFIRMED if 200 <= response.status < 300 else EARLY,
    )


def dialog_as_uas(request, local_tag, state=EARLY):
    """The dialog we establish by answering request with local_tag (12.1.1)."""
    return Dialog(
        request.call_id,
        local_tag,
        request.from_.tag,
        _without_tag(request.to),
        _without_tag(request.from_),
        0,
        request.cseq.seq,
        _contact_uri(request, request.from_.uri),
        list(request.record_routes),
        state,
    )
