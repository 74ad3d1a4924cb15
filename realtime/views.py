"""``POST /realtime/token``: a signed access token for non-browser clients.

Browsers use the session cookie and never need this. A .NET, Java, Python or
Node client posts credentials once and hands the token to its
``accessTokenFactory``.
"""

import logging

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import authenticate
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from realtime import conf, metrics
from realtime.auth import issue_access_token

logger = logging.getLogger(__name__)


@csrf_exempt  # credentials in the body, no ambient cookie is trusted here
@require_POST
def access_token(request):
    """Exchange username and password for an access token."""
    user = authenticate(
        request,
        username=request.POST.get("username", ""),
        password=request.POST.get("password", ""),
    )
    if user is None or not user.is_active:
        logger.warning("access token refused: bad credentials")
        return JsonResponse({"error": "Invalid username or password."}, status=401)
    return JsonResponse(
        {"accessToken": issue_access_token(user), "expiresIn": conf.get().ACCESS_TOKEN_MAX_AGE}
    )


@staff_member_required
def metrics_view(request):
    """This process's counters: open connections, frames sent, drops, send failures."""
    return JsonResponse(metrics.snapshot())
