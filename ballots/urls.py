from django.urls import path

from . import views

app_name = "ballots"

urlpatterns = [
    path("", views.home, name="home"),
]
