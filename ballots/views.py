import logging
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from reforms.models import Reform
from verification import limits
from verification.forms import CodeForm, PhoneForm
from verification.identity import id_number_hash, truncated_network
from verification.services import (
    check_code,
    forget_citizen,
    pending_phone,
    send_code,
    verified_citizen,
)
from zibo_vote.http import client_ip, local_path
from zibo_vote.page_cache import public_page

from .forms import BallotForm
from .models import AlreadyVoted, Ballot, InvalidChoices, Poll, PollNotOpen, PollStatus
from .tally import tally

logger = logging.getLogger(__name__)

# The receipts of the ballots cast in this session, by poll; verification.services keeps the
# rest of what a session knows of its citizen.
RECEIPTS = "receipts"


def _polls_voted_in(request):
    """The one thing about a visitor the home page shows: in which polls they voted."""
    return ",".join(sorted(request.session.get(RECEIPTS, {})))


@require_safe
@public_page(variant=_polls_voted_in)
def home(request):
    poll = Poll.objects.current()
    reforms = poll.reforms.published() if poll else Reform.objects.published()
    voted = poll is not None and str(poll.pk) in request.session.get(RECEIPTS, {})
    return render(request, "ballots/home.html", {"poll": poll, "reforms": reforms, "voted": voted})


def _next_url(request):
    """Where to go after verifying: a path on this site, else the ballot."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    return local_path(target, reverse("ballots:vote"))


def _phone_step(request, form, message=""):
    return render(
        request,
        "ballots/verify_phone.html",
        {
            "form": form,
            "next": _next_url(request),
            "message": message,
            "citizen": verified_citizen(request),
        },
    )


def _code_step(request, code_form, phone=""):
    return render(
        request,
        "ballots/verify_code.html",
        {
            "form": code_form,
            "resend_form": PhoneForm(initial={"phone": phone}),
            "phone": phone,
            "masked_phone": pending_phone(request),
            "next": _next_url(request),
            "ttl_minutes": settings.SMS_CODE_TTL_SECONDS // 60,
            "resend_seconds": settings.SMS_RESEND_SECONDS,
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request):
    """Step 1: a phone number (`phone`) gets a code by SMS. Step 2: the code (`code`) is checked.

    Both steps post to this one address, as the public contract names it; the presence of
    `code` tells the steps apart, and each step is its own function below.
    """
    if request.method == "POST":
        if "code" in request.POST:
            return _check_code(request)
        return _send_code(request)
    if request.GET.get("step") == "phone":
        # Also for a verified visitor: the page then offers to end the verification, for
        # the next person on a shared phone.
        return _phone_step(request, PhoneForm())
    if verified_citizen(request):
        return HttpResponseRedirect(_next_url(request))
    if pending_phone(request):
        return _code_step(request, CodeForm())
    return _phone_step(request, PhoneForm())


def _send_code(request):
    form = PhoneForm(request.POST)
    if not form.is_valid():
        return _phone_step(request, form)
    poll = Poll.objects.current()
    if poll is None or poll.status != PollStatus.OPEN:
        # No code, no SMS bill and no message to a stranger's phone when there is no vote.
        return _not_open(request, poll)
    phone = form.cleaned_data["phone"]
    result = send_code(request, phone)
    if not result.sent:
        form.add_error("phone", result.message)
        return _phone_step(request, form)
    return _code_step(request, CodeForm(), phone=phone)


def _check_code(request):
    if pending_phone(request) is None:
        return _phone_step(
            request, PhoneForm(), _("请先获取短信验证码；如页面停留过久，请重新获取。")
        )
    phone = request.POST.get("phone", "")
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _code_step(request, form, phone=phone)
    result = check_code(request, form.cleaned_data["code"], phone=phone)
    if not result.verified:
        form.add_error("code", result.message)
        return _code_step(request, form, phone=phone)
    return HttpResponseRedirect(_next_url(request))


@require_POST
def end_verification(request):
    """使用其他手机号码 / 退出: a shared phone's next person starts at the phone step.

    Forgets the citizen and this session's receipts; a POST with its CSRF token, so no other
    site can sign a citizen out.
    """
    next_url = _next_url(request)
    forget_citizen(request)
    query = urlencode({"step": "phone", "next": next_url})
    return redirect(f"{reverse('ballots:verify')}?{query}")


def _not_open(request, poll, status=200):
    return render(request, "ballots/poll_not_open.html", {"poll": poll}, status=status)


def _already_voted(request, poll, ballot, status=200):
    context = {"poll": poll, "ballot": ballot, "citizen": verified_citizen(request)}
    return render(request, "ballots/already_voted.html", context, status=status)


# Not no-store: a browser may then keep the page in its history, so a citizen who opens an
# entry from the ballot and comes back finds the choices they had made.
@cache_control(private=True, no_cache=True, must_revalidate=True)
@require_http_methods(["GET", "POST"])
def vote(request):
    poll = Poll.objects.current()
    if poll is None or poll.status != PollStatus.OPEN:
        return _not_open(request, poll)
    citizen = verified_citizen(request)
    if citizen is None:
        return redirect(f"{reverse('ballots:verify')}?next={reverse('ballots:vote')}")

    if request.method == "GET":
        existing = Ballot.objects.filter(poll=poll, citizen_hash=citizen.hash).first()
        if existing is not None:
            return _already_voted(request, poll, existing)

    form = BallotForm(poll, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        limits.count_ballot(request, citizen.hash)
        id_number = form.cleaned_data.get("id_number")
        try:
            ballot = poll.cast_ballot(
                citizen_hash=citizen.hash,
                numbers=form.cleaned_data["choices"],
                id_number_hash=id_number_hash(id_number) if id_number else None,
                network=truncated_network(client_ip(request)),
                phone_masked=citizen.masked_phone,
            )
        except AlreadyVoted as refused:
            if refused.by_id_number:
                form.add_error("id_number", _("该身份证号码已参加过本次投票，每个号码只能投一次。"))
            else:
                return _already_voted(request, poll, refused.ballot, status=409)
        except PollNotOpen as refused:
            return _not_open(request, refused.poll, status=409)
        except InvalidChoices:
            # The entries changed between the page and the vote (staff unpublished one).
            form.add_error("choices", _("所选经验已有变动，请重新选择。"))
        else:
            request.session[RECEIPTS] = {
                **request.session.get(RECEIPTS, {}),
                str(poll.pk): ballot.receipt,
            }
            return redirect("ballots:vote_done")
    return render(request, "ballots/vote.html", {"poll": poll, "form": form, "citizen": citizen})


@never_cache
@require_safe
def vote_done(request):
    receipts = request.session.get(RECEIPTS, {})
    ballot = (
        Ballot.objects.filter(receipt__in=receipts.values())
        .select_related("poll")
        .prefetch_related("choices__reform")
        .order_by("-cast_at")
        .first()
    )
    if ballot is None:
        return redirect("ballots:vote")
    context = {"ballot": ballot, "poll": ballot.poll, "citizen": verified_citizen(request)}
    return render(request, "ballots/vote_done.html", context)


def _time_left(poll, now):
    """ "2天3小时30分钟" / "2 days 3 hours 30 minutes", leaving out parts that are zero."""
    if poll.closes_at is None:
        return None
    seconds = max(0, int((poll.closes_at - now).total_seconds()))
    days, seconds = divmod(seconds, 24 * 3600)
    hours, seconds = divmod(seconds, 3600)
    minutes = seconds // 60
    parts = [
        ngettext("%(count)d天", "%(count)d天", days) % {"count": days} if days else "",
        ngettext("%(count)d小时", "%(count)d小时", hours) % {"count": hours} if hours else "",
        ngettext("%(count)d分钟", "%(count)d分钟", minutes) % {"count": minutes} if minutes else "",
    ]
    # Chinese writes the parts together; English puts a space between them.
    return pgettext("time parts", "").join(part for part in parts if part) or _("不足1分钟")


@require_safe
@public_page
def results(request):
    """Turnout while voting is open; the ranked result once closed (or earlier, if staff allow).

    Reads the running counts (ballots.tally.tally): a few rows whatever the number of ballots.
    """
    poll = Poll.objects.for_results()
    context = {"poll": poll}
    if poll is not None:
        status = poll.status
        visible = status == PollStatus.CLOSED or (
            status == PollStatus.OPEN and poll.results_visible_while_open
        )
        context["result"] = tally(poll) if visible else None
        if status == PollStatus.OPEN:
            context["time_left"] = _time_left(poll, timezone.now())
    return render(request, "ballots/results.html", context)
