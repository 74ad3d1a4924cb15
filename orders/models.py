"""Orders and their history. What was last published lives on the row."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import DecimalField, ExpressionWrapper, F, Q, Sum
from django.urls import reverse

from outbox import ClaimQuerySet


class OrderQuerySet(ClaimQuerySet):
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

    def with_total(self):
        """Annotate each order with ``total``: the sum of its item lines."""
        money = DecimalField(max_digits=10, decimal_places=2)
        line = ExpressionWrapper(F("items__quantity") * F("items__unit_price"), output_field=money)
        return self.annotate(total=Sum(line, default=Decimal("0.00"), output_field=money))


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
    progress = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], help_text="Percent, 0 to 100."
    )
    status_message = models.CharField(max_length=200, blank=True)
    estimated_delivery = models.DateField(null=True, blank=True)
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


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    name = models.CharField(max_length=120)
    quantity = models.PositiveSmallIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"

    @property
    def line_total(self) -> Decimal:
        return self.quantity * self.unit_price


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
