"""``POST /realtime/token``: a signed access token for non-browser clients.

Browsers use the session cookie and never need this. A .NET, Java, Python or
Node client posts credentials once and hands the token to its
``accessTokenFactory``.
"""

import hmac
import logging

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import aauthenticate
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from realtime import conf, metrics, throttle
from realtime.auth import issue_access_token
from realtime.bodies import bounded_body

logger = logging.getLogger(__name__)

LOCKED = "; too many failures, further attempts refused for a while"


@bounded_body  # refused by its head past MAX_MESSAGE_SIZE (realtime.server)
@csrf_exempt  # credentials in the body, no ambient cookie is trusted here
@require_POST
async def access_token(request):
    """Exchange username and password for an access token (failures throttled)."""
    username = request.POST.get("username", "")
    address = throttle.client_address(request)
    try:
        wait = await throttle.retry_after(username, address)
        if wait:
            logger.debug("access token refused: locked (retry in %d s)", wait)
            response = JsonResponse(
                {"error": "Too many failed attempts; try again later."}, status=429
            )
            response["Retry-After"] = str(wait)
            return response
        user = await aauthenticate(
            request, username=username, password=request.POST.get("password", "")
        )
        if user is None or not user.is_active:
            locked = await throttle.failed(username, address)
            logger.warning("access token refused: bad credentials%s", LOCKED if locked else "")
            return JsonResponse({"error": "Invalid username or password."}, status=401)
        await throttle.succeeded(username)
    except (RedisError, OSError):
        # Without its counters the throttle cannot hold: refuse rather than allow guessing.
        logger.warning("access token refused: Redis unavailable", exc_info=True)
        return JsonResponse({"error": "Temporarily unavailable."}, status=503)
    return JsonResponse(
        {"accessToken": issue_access_token(user), "expiresIn": conf.get().ACCESS_TOKEN_MAX_AGE}
    )


@staff_member_required
def metrics_view(request):
    """The machine's counters: open connections, frames sent, drops, send failures."""
    return JsonResponse(metrics.snapshot())


def _scraper(request) -> bool:
    token = conf.get().METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Constant time: the comparison must not tell how much of a guess matched.
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


@never_cache
@require_GET
def prometheus_metrics(request):
    """The machine's metrics in Prometheus' text format (staff session or bearer token).

    Under ``--workers N`` whichever worker answers reports every worker (`metrics.exposition`).
    """
    if not (_scraper(request) or (request.user.is_active and request.user.is_staff)):
        response = HttpResponse("Staff session or metrics bearer token required.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not metrics.enabled():
        return HttpResponse("Metrics are off (REALTIME METRICS).\n", status=404)
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
