"""The one publish gate: every saved order is published after commit."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from orders.models import Order
from orders.services import PUBLISH_FIELDS, publish_order_change
from realtime import after_commit


@receiver(post_save, sender=Order, dispatch_uid="orders.publish")
def order_saved(sender, instance: Order, update_fields=None, **kwargs) -> None:
    if update_fields and set(update_fields) <= PUBLISH_FIELDS:
        return  # the publisher's own bookkeeping
    after_commit(publish_order_change, instance.pk)
