"""What changes daphne and Twisted for the hubs: run ``python -m realtime.server``.

It takes daphne's own command-line arguments (``realtime.server.serve``
lists what differs from plain daphne). The hubs work under any ASGI server;
this one adds the deep accept queue, bounded request bodies, write-through
TCP sends and the pre-encoded frame path that bench/ measures.
"""
