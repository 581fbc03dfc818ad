"""Random strings made from one draw of the system's randomness, not one draw a character."""

import secrets

from django.middleware import csrf


def random_string(length, alphabet):
    """`length` characters of `alphabet`, every string equally likely: what
    "".join(secrets.choice(alphabet) for …) gives, from one secrets.randbelow() of all the
    len(alphabet)**length strings, written in that base. choice() reads the system's randomness
    once a character (32 reads for a session key, a system call each)."""
    base = len(alphabet)
    number = secrets.randbelow(base**length)
    characters = []
    for _ in range(length):
        number, digit = divmod(number, base)
        characters.append(alphabet[digit])
    return "".join(characters)


def csrf_string():
    """A CSRF secret or mask as Django's middleware makes them (CSRF_SECRET_LENGTH characters
    of CSRF_ALLOWED_CHARS, each string as likely), from one draw. ZiboVoteConfig.ready() puts
    it in the place of django.middleware.csrf._get_new_csrf_string: Django draws a new mask for
    every page with a form (so that compression reveals nothing of the secret: BREACH) with
    get_random_string(), 32 reads of the system's randomness a page, and has no setting for
    it. tests/test_tokens.py fails if Django stops asking that function."""
    return random_string(csrf.CSRF_SECRET_LENGTH, csrf.CSRF_ALLOWED_CHARS)
