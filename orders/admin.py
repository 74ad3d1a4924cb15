"""The admin is how staff move orders along; every change goes through the services."""

from django.contrib import admin, messages
from django.utils.translation import ngettext

from orders import services
from orders.forms import OrderAdminForm
from orders.models import Order, OrderEvent, OrderItem
from realtime import presence


class OrderEventInline(admin.TabularInline):
    """The order's history, read-only: rows are written by the services."""

    model = OrderEvent
    fields = ["created_at", "status", "progress", "message", "actor"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    form = OrderAdminForm
    list_display = [
        "number",
        "customer",
        "status",
        "progress",
        "status_message",
        "updated_at",
    ]
    list_filter = ["status", "publish_pending", "updated_at"]
    list_select_related = ["customer"]
    search_fields = ["number"]
    date_hierarchy = "created_at"
    ordering = ["-updated_at"]
    autocomplete_fields = ["customer"]
    fieldsets = [
        (None, {"fields": ["number", "customer"]}),
        (
            "State",
            {
                "fields": [
                    "status",
                    "progress",
                    "confirm_lower_progress",
                    "status_message",
                    "estimated_delivery",
                ]
            },
        ),
        (
            "Live delivery",
            {
                "classes": ["collapse"],
                "description": "What the customer was last sent; the publisher keeps it.",
                "fields": [
                    "notified_status",
                    "notified_progress",
                    "notified_message",
                    "publish_pending",
                    "created_at",
                    "updated_at",
                ],
            },
        ),
    ]
    readonly_fields = [
        "notified_status",
        "notified_progress",
        "notified_message",
        "publish_pending",
        "created_at",
        "updated_at",
    ]
    inlines = [OrderItemInline, OrderEventInline]
    actions = ["mark_processing", "mark_shipped", "mark_delivered"]

    def changelist_view(self, request, extra_context=None):
        # Who is online, read once per page (not per row) from the tracker.
        request.online_users = set(presence.online_users_sync())
        title = f"Orders · {len(request.online_users)} online now"
        return super().changelist_view(request, {**(extra_context or {}), "title": title})

    def get_list_display(self, request):
        online = getattr(request, "online_users", set())

        @admin.display(boolean=True, description="Online")
        def customer_online(order) -> bool:
            return str(order.customer_id) in online

        display = list(super().get_list_display(request))
        display.insert(2, customer_online)
        return display

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return ["number", "customer", *self.readonly_fields]

    def save_model(self, request, obj, form, change) -> None:
        services.save_order(obj, changed=form.changed_data, actor=request.user)

    def _change_status(self, request, queryset, status: str) -> None:
        orders = list(queryset)
        for order in orders:
            services.change_status(order, status=status, actor=request.user)
        label = Order.Status(status).label.lower()
        self.message_user(
            request,
            ngettext(
                "%(count)d order marked %(label)s.",
                "%(count)d orders marked %(label)s.",
                len(orders),
            )
            % {"count": len(orders), "label": label},
            messages.SUCCESS,
        )

    @admin.action(description="Mark selected orders processing", permissions=["change"])
    def mark_processing(self, request, queryset) -> None:
        self._change_status(request, queryset, Order.Status.PROCESSING)

    @admin.action(description="Mark selected orders shipped", permissions=["change"])
    def mark_shipped(self, request, queryset) -> None:
        self._change_status(request, queryset, Order.Status.SHIPPED)

    @admin.action(description="Mark selected orders delivered", permissions=["change"])
    def mark_delivered(self, request, queryset) -> None:
        self._change_status(request, queryset, Order.Status.DELIVERED)
