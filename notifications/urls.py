from django.urls import path

from notifications import views

app_name = "notifications"
urlpatterns = [
    path("", views.NotificationListView.as_view(), name="list"),
    path("feed", views.feed, name="feed"),
    path("<int:pk>/open", views.open_notification, name="open"),
    path("<int:pk>/read", views.mark_read, name="mark_read"),
    path("read-all", views.mark_all_read, name="mark_all_read"),
]
