from django.apps import AppConfig


class ZiboVoteConfig(AppConfig):
    """The project package is an app only so that manage.py finds compile_translations.

    No models and no ready(): each app connects its own signals in its own AppConfig.
    """

    name = "zibo_vote"
    verbose_name = "zibo-vote"
