"""URL configuration (HTTP views; hub routes live in config/routing.py)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from config.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="orders:list"), name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("notifications/", include("notifications.urls")),
    path("orders/", include("orders.urls")),
    path("realtime/", include("realtime.urls")),
]
