from django.urls import path

from realtime.views import access_token

app_name = "realtime"
urlpatterns = [path("token", access_token, name="token")]
