"""No HTTP views: the Channels peer only serves its WebSocket consumer."""

urlpatterns: list = []
