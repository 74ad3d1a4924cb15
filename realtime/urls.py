from django.urls import path

from realtime.views import access_token, metrics_view

app_name = "realtime"
urlpatterns = [
    path("token", access_token, name="token"),
    path("metrics", metrics_view, name="metrics"),
]
