from django.urls import path
from roles.views import HealthCheckView, PingView

urlpatterns = [
    path("api/v1/healthz/", HealthCheckView.as_view()),
    path("api/v1/ping/", PingView.as_view()),
]
