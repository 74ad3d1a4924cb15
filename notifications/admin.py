"""Staff read notifications, manage topics, and send notifications from here.

Sending goes through ``notifications.services`` (persist, then publish on
commit), so the plain "add" form is replaced by a "Send notification" view.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import models
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from notifications import events, services
from notifications.models import Notification, Topic


class Audience(models.TextChoices):
    USERS = "users", "Chosen users"
    TOPIC = "topic", "Subscribers of a topic"
    STAFF = "staff", "All staff"


class UserPicker(FilteredSelectMultiple):
    """The admin's two-box picker, wrapped as ModelAdmin wraps it.

    SelectFilter2.js puts the boxes first in the widget's parent element;
    without a wrapper of its own the label would end up after them.
    """

    def render(self, *args, **kwargs):
        return format_html(
            '<div class="related-widget-wrapper">{}</div>', super().render(*args, **kwargs)
        )


class SendNotificationForm(forms.Form):
    title = forms.CharField(max_length=200)
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    type = forms.ChoiceField(choices=Notification.Type.choices, initial=Notification.Type.INFO)
    audience = forms.ChoiceField(
        choices=Audience.choices, initial=Audience.USERS, widget=forms.RadioSelect
    )
    users = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        widget=UserPicker("users", is_stacked=False),
        help_text="Used when the audience is “Chosen users”.",
    )
    topic = forms.ModelChoiceField(
        queryset=Topic.objects.all(),
        required=False,
        help_text="Used when the audience is “Subscribers of a topic”.",
    )

    def clean(self):
        cleaned = super().clean()
        audience = cleaned.get("audience")
        if audience == Audience.USERS and not cleaned.get("users"):
            self.add_error("users", "Choose at least one user.")
        if audience == Audience.TOPIC and not cleaned.get("topic"):
            self.add_error("topic", "Choose a topic.")
        return cleaned

    def send(self) -> list[Notification]:
        """Send through the service that matches the audience; return the rows."""
        data = self.cleaned_data
        content = {"title": data["title"], "message": data["message"], "type": data["type"]}
        if data["audience"] == Audience.USERS:
            return services.send_to_users(data["users"], **content)
        if data["audience"] == Audience.TOPIC:
            return services.broadcast_to_topic(data["topic"], **content)
        return services.send_to_group(events.STAFF_GROUP, **content)


def recipient_facts() -> dict:
    """What the form's script needs to count recipients before sending."""
    topics = Topic.objects.annotate(
        active=models.Count("subscribers", filter=models.Q(subscribers__is_active=True))
    )
    return {
        "staff": get_user_model().objects.filter(is_staff=True, is_active=True).count(),
        "topicSubscribers": {str(topic.pk): topic.active for topic in topics},
    }


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "recipient", "type", "topic", "created_at", "read", "published"]
    list_filter = [
        "type",
        "topic",
        ("read_at", admin.EmptyFieldListFilter),
        ("published_at", admin.EmptyFieldListFilter),
        "created_at",
    ]
    list_select_related = ["recipient", "topic"]
    search_fields = ["title", "recipient__username"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "recipient",
        "title",
        "message",
        "type",
        "data",
        "topic",
        "created_at",
        "read_at",
        "published_at",
    ]
    fields = readonly_fields

    @admin.display(boolean=True, ordering="read_at")
    def read(self, obj: Notification) -> bool:
        return obj.is_read

    @admin.display(boolean=True, ordering="published_at")
    def published(self, obj: Notification) -> bool:
        return obj.published_at is not None

    def has_change_permission(self, request, obj=None) -> bool:
        # Rows are written by the services only; the change page is a view page.
        return False

    def get_urls(self):
        send = path(
            "send/",
            self.admin_site.admin_view(self.send_view),
            name="notifications_notification_send",
        )
        return [send, *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:notifications_notification_send")

    def send_view(self, request):
        """Compose a notification and send it to users, a topic or all staff."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SendNotificationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            sent = form.send()
            self.message_user(
                request,
                ngettext(
                    "%(count)d notification persisted and queued for live delivery.",
                    "%(count)d notifications persisted and queued for live delivery.",
                    len(sent),
                )
                % {"count": len(sent)},
                messages.SUCCESS if sent else messages.WARNING,
            )
            return redirect(reverse("admin:notifications_notification_changelist"))
        fieldsets = [
            ("Message", {"fields": ["title", "message", "type"]}),
            ("Audience", {"fields": ["audience", "users", "topic"]}),
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Send notification",
            "facts": recipient_facts(),
            "form": form,
            "adminform": helpers.AdminForm(form, fieldsets, {}, model_admin=self),
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/notifications/notification/send.html", context)


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "audience", "subscriber_count"]
    list_filter = ["audience"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members", "subscribers"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(models.Count("subscribers", distinct=True))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Audience and members are saved by now: drop subscribers it no longer admits.
        services.apply_topic_audience(form.instance)

    @admin.display(description="Subscribers", ordering="subscribers__count")
    def subscriber_count(self, obj: Topic) -> int:
        return obj.subscribers__count
