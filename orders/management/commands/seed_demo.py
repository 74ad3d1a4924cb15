"""``manage.py seed_demo``: demo users, orders, topics and notifications, idempotently.

Orders and notifications are created through the services, so they are
published like any other change (and stay pending for ``run_notifier`` when
Redis is down). Running the command again creates nothing twice.
"""

import secrets
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from notifications import services as notifications
from notifications.models import Notification, Topic
from orders import services
from orders.models import Order, OrderItem

CUSTOMERS = ["alice", "bob"]
STAFF = "staff"
#: number -> (customer, status, progress, message, days to the estimated delivery, items)
ORDERS = {
    "A-1001": (
        "alice",
        Order.Status.PENDING,
        0,
        "",
        6,
        [("Linen tea towel", 2, "8.50"), ("Enamel mug", 1, "14.00")],
    ),
    "A-1002": (
        "alice",
        Order.Status.PROCESSING,
        30,
        "Packing your items.",
        4,
        [("Walnut chopping board", 1, "39.00"), ("Olive oil, 500 ml", 2, "11.90")],
    ),
    "A-1003": (
        "alice",
        Order.Status.SHIPPED,
        60,
        "Handed to the courier.",
        2,
        [("Ceramic teapot", 1, "32.00")],
    ),
    "A-1004": (
        "alice",
        Order.Status.DELIVERED,
        100,
        "Left at the front door.",
        -1,
        [("Wool throw", 1, "64.00"), ("Beeswax candles, set of 3", 1, "18.50")],
    ),
    "B-2001": (
        "bob",
        Order.Status.PROCESSING,
        20,
        "Waiting for stock.",
        5,
        [("Cast-iron skillet", 1, "45.00")],
    ),
    "B-2002": (
        "bob",
        Order.Status.SHIPPED,
        70,
        "Out for delivery.",
        1,
        [("Coffee beans, 1 kg", 2, "21.00"), ("Pour-over kettle", 1, "49.00")],
    ),
}
#: slug -> (name, audience, subscribers: "customers" and/or "staff")
TOPICS = {
    "deals": ("Deals", Topic.Audience.EVERYONE, {"customers", "staff"}),
    "ops": ("Operations", Topic.Audience.STAFF, {"staff"}),
}
WELCOME_TITLE = "Welcome to the shop"


class Command(BaseCommand):
    help = "Create demo users (alice, bob, staff), orders, topics and notifications."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            help="Give all three users this password (default: random, printed once; "
            "existing users keep theirs).",
        )

    def handle(self, *args, password=None, **options):
        logins = [self._user(name, password) for name in [*CUSTOMERS, STAFF]]
        users = {login[0].username: login[0] for login in logins}
        customers = [users[name] for name in CUSTOMERS]

        created_orders = sum(self._order(number, users, spec) for number, spec in ORDERS.items())
        for slug, (name, audience, audiences) in TOPICS.items():
            # Topics carry no live state: plain rows, as the admin writes them.
            Topic.objects.get_or_create(slug=slug, defaults={"name": name, "audience": audience})
            members = (customers if "customers" in audiences else []) + (
                [users[STAFF]] if "staff" in audiences else []
            )
            for user in members:
                notifications.subscribe(user=user, slug=slug)
        welcomed = sum(self._welcome(user) for user in customers)

        self.stdout.write(
            f"Orders created: {created_orders} (of {len(ORDERS)}); "
            f"welcome notifications: {welcomed}; topics: {', '.join(TOPICS)}."
        )
        self._print_logins(logins)

    def _user(self, username: str, password: str | None):
        """Return (user, password shown, role); create the user when missing."""
        is_staff = username == STAFF
        user, created = get_user_model().objects.get_or_create(
            username=username,
            defaults={
                "email": f"{username}@example.com",
                "is_staff": is_staff,
                "is_superuser": is_staff,
            },
        )
        role = "staff (superuser)" if is_staff else "customer"
        if created or password:
            chosen = password or secrets.token_urlsafe(9)
            user.set_password(chosen)
            user.save(update_fields=["password"])
            return user, chosen, role
        return user, None, role

    def _order(self, number: str, users: dict, spec: tuple) -> bool:
        """Create one demo order in its state through the services; False if it exists."""
        if Order.objects.filter(number=number).exists():
            return False
        customer, status, progress, message, days, items = spec
        order = services.save_order(
            Order(
                customer=users[customer],
                number=number,
                estimated_delivery=timezone.localdate() + timedelta(days=days),
            ),
            changed=["status"],
        )
        OrderItem.objects.bulk_create(
            OrderItem(order=order, name=name, quantity=quantity, unit_price=Decimal(price))
            for name, quantity, price in items
        )
        if status != Order.Status.PENDING:
            services.change_status(
                order, status=status, progress=progress, message=message, actor=users[STAFF]
            )
        return True

    def _welcome(self, user) -> bool:
        if Notification.objects.for_user(user).filter(title=WELCOME_TITLE).exists():
            return False
        notifications.send_to_user(
            user,
            title=WELCOME_TITLE,
            message="Your orders and their live status are under “My orders”.",
            type=Notification.Type.INFO,
        )
        return True

    def _print_logins(self, logins) -> None:
        self.stdout.write("")
        self.stdout.write(f"  {'username':<10} {'password':<16} role")
        self.stdout.write(f"  {'-' * 10} {'-' * 16} {'-' * 18}")
        for user, password, role in logins:
            self.stdout.write(f"  {user.username:<10} {password or '(unchanged)':<16} {role}")
        self.stdout.write("")
        if any(password is None for _, password, _ in logins):
            self.stdout.write(
                "Existing users kept their passwords; pass --password to set a new one."
            )
        self.stdout.write(
            "Live updates for the demo rows wait for Redis and run_notifier (`make run` "
            "starts both next); then open / (customers) or /admin/ (staff) on the server."
        )
