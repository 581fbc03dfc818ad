from django.apps import AppConfig


class ZiboVoteConfig(AppConfig):
    """The project package as an app, for its project-wide management commands."""

    name = "zibo_vote"
    verbose_name = "zibo-vote"
