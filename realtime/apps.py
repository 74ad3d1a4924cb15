from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime (SignalR hubs)"

    def ready(self) -> None:
        # Import every app's hubs.py, as the admin imports admin.py: each hub
        # declares its client events, the only `target` label values metrics
        # use, also in processes that only send (run_notifier).
        autodiscover_modules("hubs")
        # Imported here as Django's documentation does for signal receivers:
        # the module uses django.contrib.auth's models, loaded only by now.
        from realtime import revocation

        revocation.connect_signals()
