"""Notifications are rows first and messages second (persist, then publish)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from outbox import ClaimQuerySet


class NotificationQuerySet(ClaimQuerySet):
    def for_user(self, user):
        """Notifications addressed to `user`."""
        return self.filter(recipient=user)

    def unread_for(self, user):
        """Unread notifications of `user`."""
        return self.filter(recipient=user, read_at__isnull=True)

    def pending(self):
        """Notifications not yet published to the recipient's live connections."""
        return self.filter(published_at__isnull=True)


class Notification(models.Model):
    class Type(models.TextChoices):
        INFO = "info", "Information"
        ORDER_UPDATE = "order_update", "Order update"
        ANNOUNCEMENT = "announcement", "Announcement"
        ALERT = "alert", "Alert"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.INFO)
    data = models.JSONField(default=dict, blank=True)
    topic = models.ForeignKey(
        "Topic", null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    #: Set once the notification reached the channel layer; NULL means the
    #: worker still has to deliver it (Redis was down, or a crash came between).
    published_at = models.DateTimeField(null=True, blank=True)
    #: A publisher's lease: another publisher leaves the row alone until then.
    claimed_until = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["recipient", "-created_at"],
                condition=Q(read_at__isnull=True),
                name="notification_unread_idx",
            ),
            models.Index(
                fields=["created_at"],
                condition=Q(published_at__isnull=True),
                name="notification_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} → {self.recipient}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class TopicQuerySet(models.QuerySet):
    def subscribable_by(self, user):
        """Topics `user` may subscribe to (the topic access rule, seen from the user).

        `Topic.admits` is the same rule seen from the topic; a test holds
        them equal.
        """
        if not user.is_authenticated:
            return self.none()
        return self.subscribable_to(user.pk, is_staff=user.is_staff)

    def subscribable_to(self, user_id: int, *, is_staff: bool):
        """`subscribable_by` for a signed-in user known by id and staff flag."""
        rule = Q(audience=Topic.Audience.EVERYONE) | Q(
            audience=Topic.Audience.LISTED, members=user_id
        )
        if is_staff:
            rule |= Q(audience=Topic.Audience.STAFF)
        return self.filter(rule).distinct()


class Topic(models.Model):
    class Audience(models.TextChoices):
        EVERYONE = "everyone", "Every signed-in user"
        STAFF = "staff", "Staff only"
        LISTED = "listed", "Listed users"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.EVERYONE)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="topics")
    subscribers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="subscribed_topics"
    )

    objects = TopicQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def admits(self) -> Q:
        """A filter on users: those this topic's audience admits (active or not)."""
        if self.audience == self.Audience.STAFF:
            return Q(is_staff=True)
        if self.audience == self.Audience.LISTED:
            return Q(topics=self)
        return Q()
