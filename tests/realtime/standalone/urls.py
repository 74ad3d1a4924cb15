"""The standalone project's URLs: realtime's own views, mounted as docs/realtime.md shows."""

from django.urls import include, path

from realtime.views import prometheus_metrics

urlpatterns = [
    path("metrics", prometheus_metrics, name="metrics"),
    path("realtime/", include("realtime.urls")),
]
