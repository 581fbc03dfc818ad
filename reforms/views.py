from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_safe

from zibo_vote.page_cache import public_page

from .models import Reform


@require_safe
@public_page
def reform_detail(request, number):
    reform = get_object_or_404(Reform.objects.published(), number=number)
    if request.path != reform.get_absolute_url():
        # /reforms/0003/ is /reforms/3/: one address per page (and per cached copy).
        return redirect(reform, permanent=True)
    return render(
        request,
        "reforms/reform_detail.html",
        {
            "reform": reform,
            "previous": reform.previous_published(),
            "next": reform.next_published(),
        },
    )
