"""Notification pages: the paged history, and mark-read forms that work without the hub."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.generic import ListView

from notifications import services
from notifications.models import Notification

PER_PAGE = 20


class NotificationListView(LoginRequiredMixin, ListView):
    """The user's notifications, newest first, 20 per page."""

    template_name = "notifications/notification_list.html"
    context_object_name = "notifications"
    paginate_by = PER_PAGE

    def get_queryset(self):
        return Notification.objects.for_user(self.request.user)


def _back(request):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("notifications:list")


@require_POST
@login_required
def mark_read(request, pk: int):
    """Mark one notification read (the form behind the page's "Mark read" button)."""
    if not services.mark_as_read(user=request.user, notification_id=pk):
        raise Http404("No such notification")
    return _back(request)


@require_POST
@login_required
def mark_all_read(request):
    """Mark every notification of the user read."""
    services.mark_all_as_read(user=request.user)
    return _back(request)
