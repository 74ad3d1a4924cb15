"""The lifetime manager: the one owner of connections, groups and sending.

ASP.NET Core's HubLifetimeManager split: `manager` declares the interface,
`local` holds this process's tables and fan-out, `redis` links the process
to the others (registry, receiving, liveness, drain), `publish` sends from
anywhere, and `envelopes` defines the messages between processes.
"""
