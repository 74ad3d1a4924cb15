from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime (SignalR hubs)"

    def ready(self) -> None:
        # Imported here as Django's documentation does for signal receivers:
        # the module uses django.contrib.auth's models, loaded only by now.
        from realtime import revocation

        revocation.connect_signals()
