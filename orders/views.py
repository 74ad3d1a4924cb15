"""Order pages: the customer's list, one order, and its JSON state for polling."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache
from django.views.generic import DetailView, ListView

from orders import payloads
from orders.models import Order

PER_PAGE = 20


class OrderListView(LoginRequiredMixin, ListView):
    """Orders the user may see, each with a live status badge."""

    template_name = "orders/order_list.html"
    context_object_name = "orders"
    paginate_by = PER_PAGE
    extra_context = {"status_labels": dict(Order.Status.choices)}

    def get_queryset(self):
        return Order.objects.visible_to(self.request.user).select_related("customer")


class OrderDetailView(LoginRequiredMixin, DetailView):
    """One order: live badge, message, progress and its history (404 if not visible)."""

    template_name = "orders/order_detail.html"
    context_object_name = "order"
    extra_context = {"status_labels": dict(Order.Status.choices)}

    def get_queryset(self):
        return (
            Order.objects.visible_to(self.request.user)
            .with_total()
            .prefetch_related("events", "items")
        )


@never_cache
@login_required
def order_state(request, pk: int) -> JsonResponse:
    """The order page's state as JSON: what the page polls when the hub is unreachable."""
    order = get_object_or_404(Order.objects.visible_to(request.user), pk=pk)
    return JsonResponse(payloads.order_state(order))
