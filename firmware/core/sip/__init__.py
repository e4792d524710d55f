"""SIP (RFC 3261): messages, transactions, dialogs, digest auth and the user agent facade."""
