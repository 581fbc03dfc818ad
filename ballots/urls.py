from django.urls import path

from . import views

app_name = "ballots"

urlpatterns = [
    path("", views.home, name="home"),
    path("verify/", views.verify, name="verify"),
    path("verify/resend/", views.resend, name="resend_code"),
    path("verify/end/", views.end_verification, name="end_verification"),
    path("vote/", views.vote, name="vote"),
    path("vote/done/", views.vote_done, name="vote_done"),
    path("results/", views.results, name="results"),
    path("privacy/", views.privacy, name="privacy"),
]
