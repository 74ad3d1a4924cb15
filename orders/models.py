"""Orders and their history. What was last published lives on the row."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse


class OrderQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Orders `user` may see: their own; staff see all (the one access rule)."""
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(customer=user)

    def unpublished(self):
        """Orders whose current state has not reached the customer yet."""
        return self.filter(
            Q(publish_pending=True)
            | ~Q(status=F("notified_status"))
            | ~Q(progress=F("notified_progress"))
            | ~Q(status_message=F("notified_message"))
        )


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    number = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    status_message = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # What the customer was last notified of; the publisher compares these
    # with the fields above, so a change that skipped the signal is found.
    notified_status = models.CharField(max_length=12, blank=True)
    notified_progress = models.PositiveSmallIntegerField(default=0)
    notified_message = models.CharField(max_length=200, blank=True)
    #: Live events for the recorded state still have to go out.
    publish_pending = models.BooleanField(default=False)
    claimed_until = models.DateTimeField(null=True, blank=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="order_progress_0_100")
        ]
        indexes = [models.Index(fields=["customer", "-created_at"], name="order_customer_idx")]

    def __str__(self) -> str:
        return f"Order {self.number}"

    def get_absolute_url(self) -> str:
        return reverse("orders:detail", args=[self.pk])

    @property
    def is_complete(self) -> bool:
        return self.status == self.Status.DELIVERED

    @property
    def status_changed_since_notified(self) -> bool:
        return self.status != self.notified_status

    @property
    def has_unpublished_changes(self) -> bool:
        return (
            self.status_changed_since_notified
            or self.progress != self.notified_progress
            or self.status_message != self.notified_message
        )


class OrderEvent(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=12, choices=Order.Status.choices)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.order} → {self.status}"
