from django.shortcuts import render
from django.views.decorators.http import require_safe

from reforms.models import Reform

from .models import Poll


@require_safe
def home(request):
    poll = Poll.objects.current()
    reforms = poll.reforms.published() if poll else Reform.objects.published()
    return render(request, "ballots/home.html", {"poll": poll, "reforms": reforms})
