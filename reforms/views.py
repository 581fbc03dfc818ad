from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from zibo_vote.page_cache import public_page

from .models import Reform


@require_safe
@public_page
def reform_detail(request, number):
    reform = get_object_or_404(Reform.objects.published(), number=number)
    return render(
        request,
        "reforms/reform_detail.html",
        {
            "reform": reform,
            "previous": reform.previous_published(),
            "next": reform.next_published(),
        },
    )
