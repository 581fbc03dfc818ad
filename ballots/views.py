import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from reforms.models import Reform
from verification import limits
from verification.forms import CodeForm, PhoneForm
from verification.identity import id_number_hash, truncated_network
from verification.models import CodeCheck
from verification.services import (
    SendStatus,
    check_code,
    forget_citizen,
    keep_for_redisplay,
    pending_code,
    redisplay,
    resend_code,
    send_code,
    verified_citizen,
)
from zibo_vote.http import client_ip, never_cache, next_path, path_to, revalidate
from zibo_vote.page_cache import public_page

from .forms import BallotForm
from .models import (
    AlreadyVoted,
    InvalidChoices,
    Poll,
    PollNotOpen,
    PollStatus,
    Receipt,
    beijing_time,
)
from .review import ua_family
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
    poll = Poll.objects.current_kept()
    reforms = poll.reforms.published() if poll else Reform.objects.published()
    voted = poll is not None and str(poll.pk) in request.session.get(RECEIPTS, {})
    return render(request, "ballots/home.html", {"poll": poll, "reforms": reforms, "voted": voted})


def _next_url(request):
    """Where to go after verifying: a path on this site, else the ballot."""
    return next_path(request, path_to("ballots:vote"))


def _verify_url(next_url, **query):
    """/verify/ (in the page's language) with `next`, and `step=phone` when asked for."""
    return f"{path_to('ballots:verify')}?{urlencode({**query, 'next': next_url}, safe='/')}"


def _phone_step(request, form, notice=""):
    return render(
        request,
        "ballots/verify_phone.html",
        {
            "form": form,
            "next": _next_url(request),
            "notice": notice,
            "citizen": verified_citizen(request),
            "retention_days": settings.PERSONAL_DATA_RETENTION_DAYS,
        },
    )


def _code_step(request, code_form, pending):
    next_url = _next_url(request)
    return render(
        request,
        "ballots/verify_code.html",
        {
            "form": code_form,
            "pending": pending,
            "next": next_url,
            "change_phone_url": _verify_url(next_url, step="phone"),
            "ttl_minutes": settings.SMS_CODE_TTL_SECONDS // 60,
        },
    )


def _again(request, step, form_class):
    """The step's form, unbound; or as it was posted, with its message, after a redirect."""
    kept = redisplay(request, step)
    if kept is None:
        return form_class(), ""
    form = form_class({step: kept.typed})
    if form.is_valid() and kept.message:
        form.add_error(step, kept.message)
    return form, kept.notice


def _back_to(request, step, typed, message="", notice=""):
    """Every answer to a POST is a redirect, errors included: nothing the browser keeps in its
    history is the answer to a POST, so Back and Reload never ask to send a form again (the
    session key changes at verification, so a kept answer would not even match)."""
    keep_for_redisplay(request, step, typed, message=message, notice=notice)
    query = {"step": "phone"} if step == "phone" else {}
    return redirect(_verify_url(_next_url(request), **query))


@require_http_methods(["GET", "HEAD", "POST"])
def verify(request):
    """Step 1: a phone number (`phone`) gets a code by SMS. Step 2: the code (`code`) is checked.

    Both steps post to this one address, as the public contract names it; the presence of
    `code` tells them apart, and each step is its own function below. Each POST is answered
    with a redirect (POST-redirect-GET): the code step is a page of its own, and a form with
    an error is shown again, with what was typed, by the GET that follows.
    """
    poll = Poll.objects.current_kept()
    if poll is None or poll.status != PollStatus.OPEN:
        # No phone form and no code while there is no vote: nothing to verify for.
        return never_cache(_not_open)(request, poll)
    if request.method == "POST":
        if "code" in request.POST:
            return _check_code(request)
        return _send_code(request)
    return _show_step(request)


@never_cache
def _show_step(request):
    if request.GET.get("step") == "phone":
        # Also for a verified visitor: the page then offers to end the verification, for
        # the next person on a shared phone.
        return _phone_step(request, *_again(request, "phone", PhoneForm))
    if verified_citizen(request):
        return HttpResponseRedirect(_next_url(request))
    pending = pending_code(request)
    if pending is None:
        return _phone_step(request, *_again(request, "phone", PhoneForm))
    if pending.expired:
        minutes = settings.SMS_CODE_TTL_SECONDS // 60
        notice = ngettext(
            "验证码已超过%(minutes)d分钟有效期。为保护您的号码，请重新输入手机号码获取验证码。",
            "验证码已超过%(minutes)d分钟有效期。为保护您的号码，请重新输入手机号码获取验证码。",
            minutes,
        ) % {"minutes": minutes}
        return _phone_step(request, PhoneForm(), notice)
    form, _notice = _again(request, "code", CodeForm)
    return _code_step(request, form, pending)


def _send_code(request):
    typed = request.POST.get("phone", "")
    form = PhoneForm(request.POST)
    if not form.is_valid():
        return _back_to(request, "phone", typed)  # the GET finds the same fault again
    result = send_code(request, form.cleaned_data["phone"])
    if result.sent or result.pending_here:
        if not result.sent:
            # Asked twice: the code already on its way is the answer.
            messages.info(request, result.message)
        return redirect(_verify_url(_next_url(request)))
    if result.status == SendStatus.WAIT:
        # Another session asked for this number a moment ago: a notice, with the number kept.
        return _back_to(request, "phone", typed, notice=result.message)
    return _back_to(request, "phone", typed, message=result.message)


def _check_code(request):
    pending = pending_code(request)
    if pending is None or pending.expired:
        messages.warning(request, _("请先获取短信验证码；如页面停留过久，请重新获取。"))
        return redirect(_verify_url(_next_url(request), step="phone"))
    typed = request.POST.get("code", "")
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _back_to(request, "code", typed)
    result = check_code(request, form.cleaned_data["code"], phone=request.POST.get("phone", ""))
    if result.verified:
        return HttpResponseRedirect(_next_url(request))
    if result.status == CodeCheck.NO_CODE:
        messages.warning(request, result.message)
        return redirect(_verify_url(_next_url(request), step="phone"))
    return _back_to(request, "code", typed, message=result.message)


@never_cache
@require_POST
def resend(request):
    """重新获取验证码 on the code step: a new code to the same number, nothing retyped."""
    poll = Poll.objects.current_kept()
    if poll is None or poll.status != PollStatus.OPEN:
        return _not_open(request, poll)
    next_url = _next_url(request)
    result = resend_code(request)
    if result is None:
        messages.info(request, _("为保护您的号码，请重新输入手机号码获取验证码。"))
        return redirect(_verify_url(next_url, step="phone"))
    if result.sent:
        messages.success(
            request, _("新的验证码已发送至 %(phone)s。") % {"phone": result.masked_phone}
        )
    elif result.status == SendStatus.WAIT:
        messages.info(request, result.message)
    else:
        messages.error(request, result.message)
    return redirect(_verify_url(next_url))


@require_POST
def end_verification(request):
    """使用其他手机号码 / 退出: a shared phone's next person starts at the phone step.

    Forgets the citizen and this session's receipts; a POST with its CSRF token, so no other
    site can sign a citizen out.
    """
    next_url = _next_url(request)
    forget_citizen(request)
    return redirect(_verify_url(next_url, step="phone"))


def _not_open(request, poll, status=200):
    return render(request, "ballots/poll_not_open.html", {"poll": poll}, status=status)


def _already_voted(request, poll, code, status=200):
    context = {"poll": poll, "receipt": Receipt.of(code), "citizen": verified_citizen(request)}
    return render(request, "ballots/already_voted.html", context, status=status)


# Not no-store: a browser may then keep the page in its history, so a citizen who opens an
# entry from the ballot and comes back finds the choices they had made, and Back from the
# receipt shows the review again instead of a "Confirm Form Resubmission" page.
@revalidate
@require_http_methods(["GET", "HEAD", "POST"])
def vote(request):
    """The ballot (GET), its review (a POST of `choices`), the cast (the same with `confirm=1`).

    A ballot cannot be changed once cast, so the ballot's button leads to 请确认您的选择 first,
    a page of its own that needs no JavaScript; only its 确认提交 casts. `?choices=3` ticks an
    entry on the ballot: 投票 on an entry's page, and 返回修改 on the review.
    """
    poll = Poll.objects.current_kept()
    if poll is None or poll.status != PollStatus.OPEN:
        # A ballot sent to a poll that is not open conflicts with its state (docs/voting.md).
        return _not_open(request, poll, status=409 if request.method == "POST" else 200)
    citizen = verified_citizen(request)
    if citizen is None:
        back_to = request.get_full_path() if request.method != "POST" else path_to("ballots:vote")
        return redirect(_verify_url(back_to))

    if request.method != "POST":
        existing = poll.receipt_of(citizen.hash)
        if existing is not None:
            return _already_voted(request, poll, existing)
        form = BallotForm(poll, initial={"choices": request.GET.getlist("choices")})
        return _ballot(request, poll, form, citizen)

    form = BallotForm(poll, request.POST)
    if not form.is_valid():
        return _ballot(request, poll, form, citizen)
    if request.POST.get("confirm") != "1":
        return _review(request, poll, form, citizen)
    return _cast(request, poll, form, citizen)


def _ballot(request, poll, form, citizen):
    return render(request, "ballots/vote.html", {"poll": poll, "form": form, "citizen": citizen})


def _review(request, poll, form, citizen):
    existing = poll.receipt_of(citizen.hash)
    if existing is not None:
        return _already_voted(request, poll, existing, status=409)
    chosen = form.chosen()
    edit = urlencode({"choices": [reform.number for reform in chosen]}, doseq=True)
    context = {
        "poll": poll,
        "form": form,
        "chosen": chosen,
        "id_number": form.cleaned_data.get("id_number"),
        "edit_url": f"{path_to('ballots:vote')}?{edit}",
        "citizen": citizen,
    }
    return render(request, "ballots/vote_review.html", context)


def _cast(request, poll, form, citizen):
    limits.count_ballot(request, citizen.hash)
    id_number = form.cleaned_data.get("id_number")
    try:
        ballot = poll.cast_ballot(
            citizen_hash=citizen.hash,
            numbers=form.cleaned_data["choices"],
            id_number_hash=id_number_hash(id_number) if id_number else None,
            network=truncated_network(client_ip(request)),
            phone_masked=citizen.masked_phone,
            ua_family=ua_family(request.headers.get("User-Agent", "")),
            code_sent_at=citizen.code_sent_at,
        )
    except AlreadyVoted as refused:
        if not refused.by_id_number:
            return _already_voted(request, poll, refused.ballot.receipt, status=409)
        form.add_error("id_number", _("该身份证号码已参加过本次投票，每个号码只能投一次。"))
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
        return redirect(path_to("ballots:vote_done"))
    return _ballot(request, poll, form, citizen)


@never_cache
@require_safe
def vote_done(request):
    # The newest of this session's ballots (one a poll; a ballot voided since still shows).
    found = [Receipt.of(code) for code in request.session.get(RECEIPTS, {}).values()]
    receipt = max(filter(None, found), key=lambda receipt: receipt.cast_at, default=None)
    if receipt is None:
        return redirect("ballots:vote")
    context = {"receipt": receipt, "citizen": verified_citizen(request)}
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
def privacy(request):
    """个人信息保护说明: who processes what, why, for how long, whom to ask (PIPL Art. 17).

    True to what the code keeps (docs/verification.md, "Identity at rest"); the retention is
    the rule that the purge of personal data carries out.
    """
    poll = Poll.objects.current_kept()
    context = {
        "asks_id_number": poll is not None and poll.require_id_number,
        "retention_days": settings.PERSONAL_DATA_RETENTION_DAYS,
        "ttl_minutes": settings.SMS_CODE_TTL_SECONDS // 60,
    }
    if poll is not None and poll.personal_data_purged_at is not None:
        context["purged_at"] = beijing_time(poll.personal_data_purged_at)
    elif poll is not None and poll.personal_data_due is not None:
        context["certified_at"] = beijing_time(poll.certified_at)
        context["purge_due"] = beijing_time(poll.personal_data_due)
    return render(request, "ballots/privacy.html", context)


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
        visible = poll.has_ended or (status == PollStatus.OPEN and poll.results_visible_while_open)
        context["result"] = tally(poll) if visible else None
        if visible:
            # The published review (issue 14): each voided batch as size, time span, reason
            # category and rule; never a network or a 号段.
            context["review_voidings"] = list(poll.voidings.all())
        if status == PollStatus.OPEN:
            context["time_left"] = _time_left(poll, timezone.now())
        if poll.has_ended:
            # Each change to the result after the close, in public (P4): when, how many, why.
            context["later_voidings"] = poll.voidings.filter(at__gte=poll.ended_at)
    return render(request, "ballots/results.html", context)
