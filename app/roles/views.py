import logging

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from roles.models import Role

log = logging.getLogger("roles")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


class HealthCheckView(APIView):
    """The incident's view, unchanged in behaviour: 200, or 499 on any exception."""

    def get(self, request, *args, **kwargs):
        try:
            Role.objects.filter().count()
        except Exception as e:
            # One line per failure, so the lab can count failures by kind.
            log.error("healthz-db-error %s: %s", type(e).__name__, _first_line(e))
            return Response(status=499)
        return Response(status=status.HTTP_200_OK)


class PingView(APIView):
    """No database: the app's own ceiling on this machine."""

    def get(self, request, *args, **kwargs):
        return Response(status=status.HTTP_200_OK)
