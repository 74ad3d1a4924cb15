"""The one publish gate: every saved order is published after commit."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from orders.models import Order
from orders.services import PUBLISH_FIELDS, publish_after_commit


@receiver(post_save, sender=Order, dispatch_uid="orders.publish")
def order_saved(sender, instance: Order, update_fields=None, **kwargs) -> None:
    if update_fields and set(update_fields) <= PUBLISH_FIELDS:
        return  # the publisher's own bookkeeping
    publish_after_commit(instance.pk)
