"""Notification pages: the history, its JSON feed, and read-by-doing forms and links."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import ListView

from notifications import payloads, services
from notifications.models import Notification

PER_PAGE = 20
FEED_DEFAULT = 8
FEED_MAX = 50


class NotificationListView(LoginRequiredMixin, ListView):
    """The user's notifications, newest first, 20 per page."""

    template_name = "notifications/notification_list.html"
    context_object_name = "notifications"
    paginate_by = PER_PAGE

    def get_queryset(self):
        return Notification.objects.for_user(self.request.user).select_related("topic")

    def get_context_data(self, **kwargs):
        # The page's script fills a copy of this row for live and loaded items.
        row = Notification(pk=0, title="", type=Notification.Type.INFO, data={"orderId": "0"})
        return super().get_context_data(
            **kwargs, row_template=row, type_labels=dict(Notification.Type.choices)
        )


def _positive_int(raw: str | None, name: str) -> int | None:
    if raw in (None, ""):
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive whole number")
    return int(raw)


@never_cache
@require_GET
@login_required
def feed(request) -> JsonResponse:
    """The unread count and the newest notifications (``?before=<id>&limit=<n>`` pages back).

    What the bell polls while the hub is unreachable, and what the
    notifications page loads more from.
    """
    try:
        before = _positive_int(request.GET.get("before"), "before")
        limit = _positive_int(request.GET.get("limit"), "limit") or FEED_DEFAULT
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    if limit > FEED_MAX:
        return JsonResponse({"error": f"limit must be at most {FEED_MAX}"}, status=400)
    rows = Notification.objects.for_user(request.user).order_by("-pk")
    if before is not None:
        rows = rows.filter(pk__lt=before)
    page = list(rows[: limit + 1])
    return JsonResponse(
        {
            "unreadCount": Notification.objects.unread_for(request.user).count(),
            "notifications": [payloads.notification(n) for n in page[:limit]],
            "hasMore": len(page) > limit,
        }
    )


@require_GET
@login_required
def open_notification(request, pk: int):
    """Mark the notification read (in every tab) and go where it points."""
    notification = get_object_or_404(Notification.objects.for_user(request.user), pk=pk)
    services.mark_as_read(user=request.user, notification_id=notification.pk)
    order_id = str(notification.data.get("orderId", ""))
    if order_id.isdigit():
        return redirect(reverse("orders:detail", args=[int(order_id)]))
    return redirect("notifications:list")


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
    """Mark every notification of the user read, and say how many."""
    count = services.mark_all_as_read(user=request.user)
    messages.success(request, marked_message(count))
    return _back(request)


def marked_message(count: int) -> str:
    """The confirmation after "Mark all read" (the page's script says the same)."""
    if not count:
        return "Nothing was unread."
    return ngettext(
        "Marked %(count)d notification read.", "Marked %(count)d notifications read.", count
    ) % {"count": count}
