"""URL configuration (HTTP views; hub routes live in config/routing.py)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from config.health import healthz
from realtime.dashboard import dashboard_page
from realtime.views import prometheus_metrics

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="orders:list"), name="home"),
    path("healthz", healthz, name="healthz"),
    path("metrics", prometheus_metrics, name="metrics"),
    path("admin/realtime/", admin.site.admin_view(dashboard_page), name="realtime-dashboard"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("notifications/", include("notifications.urls")),
    path("orders/", include("orders.urls")),
    path("realtime/", include("realtime.urls")),
]
