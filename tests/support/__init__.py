"""Real parts for tests, one job per module.

``processes`` (paths, waiting, stopping by PID), ``http`` (plain requests,
access tokens), ``signalr`` (the raw SignalR client, on realtime.protocol),
``daphne`` (`LiveStack`: daphne processes on loopback), ``node`` (the
official client's Node scripts), ``postgres`` (a throwaway cluster),
``nginx`` (deploy/nginx.conf in front of given instances) and ``cluster``
(two instances behind nginx, and the scale-out suite's constants).
"""
