"""Random strings made from one draw of the system's randomness, not one draw a character."""

import secrets


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
