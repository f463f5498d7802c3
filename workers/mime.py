"""An outbox e-mail as MIME: header-safe text and addresses, headers folded so every parser reads them back.

Anything that reaches a header goes through :func:`clean_header_text` (text)
or :func:`check_address` (addresses), so a name such as
``"Ann\\r\\nBcc: x@example.test"`` can never add a header.

Subject, From and To are folded here rather than by the ``email`` package,
whose folder (Python 3.11) drops the space between two encoded words of a
subject in different scripts and breaks display names into pieces with
spaces the name never had. The rules: a line is at most 78 characters
(RFC 5322 §2.1.1), the first line always carries text after the header's
name (a fold right after ``Subject:`` is read back with a leading space),
and text that is not plain printable ASCII, that looks like an encoded word
(``=?``) or would not fit the lines as it is, is written as UTF-8 "B"
encoded words of at most 75 characters, each of whole characters
(RFC 2047 §2, §5), the spaces inside them (RFC 2047 §6.2 ignores the white
space between two encoded words).
"""

from __future__ import annotations

import base64
import email.errors
import email.policy
import unicodedata
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

MAX_LINE_LENGTH = 78
"""RFC 5322 §2.1.1: lines SHOULD be at most 78 characters, without the CRLF."""
ENCODED_WORD_MAX_LENGTH = 75
"""RFC 2047 §2: an encoded word is at most 75 characters."""
MESSAGE_POLICY = email.policy.SMTP.clone(refold_source="none")
"""CRLF line ends, 78-character lines; the headers this module folds itself are written as they are."""

_EW_PREFIX, _EW_SUFFIX = "=?utf-8?b?", "?="
# RFC 5322 §3.2.3 atext: a display name of these characters and spaces needs no quotes.
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
# Cf characters that are part of how names are spelt (Persian and Indic
# names use ZWNJ, emoji sequences ZWJ); they cannot break a header line.
_KEPT_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d"})
# Cc/Cf are controls and invisible formatting (bidi overrides included);
# Zl/Zp are the Unicode line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


class InvalidAddress(ValueError):
    """An e-mail address that must not be put into a header or an SMTP envelope."""


def clean_header_text(text: str, *, max_length: int | None = None) -> str:
    """``text`` made safe for one header line.

    Control and invisible formatting characters (Unicode categories Cc, Cf
    except ZWNJ/ZWJ, Zl, Zp) become spaces, runs of white space collapse to
    one space, the ends are stripped, and the result is cut to
    ``max_length`` characters when given. Never raises.
    """
    cleaned = "".join(
        " " if unicodedata.category(ch) in _UNSAFE_CATEGORIES and ch not in _KEPT_FORMAT_CHARACTERS else ch
        for ch in text
    )
    cleaned = " ".join(cleaned.split())
    if max_length is not None:
        cleaned = cleaned[:max_length].rstrip()
    return cleaned


def check_address(address: str) -> str:
    """The addr-spec ``local@domain``, with the domain in IDNA (ASCII) form.

    Raises :class:`InvalidAddress` when ``address`` contains white space or any
    control/format character, is not exactly one RFC 5322 addr-spec, or has
    a non-ASCII local part (SMTPUTF8 is not used).
    """
    if not address or any(ch.isspace() or unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in address):
        raise InvalidAddress(f"address contains white space or control characters: {address!r}")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress(f"not an e-mail address: {address!r}")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
        parsed = Address(addr_spec=f"{local}@{ascii_domain}")
    except (ValueError, IndexError, UnicodeError, email.errors.MessageError) as exc:
        raise InvalidAddress(f"not an e-mail address: {address!r} ({exc})") from exc
    if not parsed.username.isascii():
        raise InvalidAddress(f"non-ASCII local part is not supported: {address!r}")
    return parsed.addr_spec


def message_id_for(row_id: int, sender: str) -> str:
    """The stable Message-ID of outbox row ``row_id``: ``<outbox-{id}@{sender's domain}>``.

    Every retry of a row carries the same id, so a receiver can drop a
    duplicate delivered after a crash between acceptance and bookkeeping.
    """
    domain = check_address(parseaddr(sender)[1]).rpartition("@")[2]
    return f"<outbox-{row_id}@{domain}>"


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    html: str | None = None,
    to_name: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """An ``EmailMessage`` (:data:`MESSAGE_POLICY`) ready to send: ``body`` as text/plain, and with ``html``
    multipart/alternative, the plain part first (RFC 2046 §5.1.4: the last part is the preferred one).

    ``sender`` is ``"Display Name <addr>"`` or a bare address; ``to`` a bare
    address, shown with ``to_name`` when given. Subject and display names are
    passed through :func:`clean_header_text` and folded as the module says.
    ``message_id`` must look like ``<left@right>``; ``date`` defaults to now.
    Non-ASCII parts are quoted-printable UTF-8, so the message is 7-bit.

    Raises :class:`InvalidAddress` for an unusable sender or recipient and
    ``ValueError`` for a malformed ``message_id``.
    """
    sender_name, sender_address = parseaddr(sender)
    if not sender_address or any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in sender):
        raise InvalidAddress(f"unusable sender: {sender!r}")
    if not (message_id.startswith("<") and message_id.endswith(">") and "@" in message_id):
        raise ValueError(f"malformed Message-ID: {message_id!r}")
    if clean_header_text(message_id) != message_id:
        raise ValueError(f"Message-ID contains white space or control characters: {message_id!r}")

    message = EmailMessage(policy=MESSAGE_POLICY)
    message.set_raw("From", address_header("From", sender_name, check_address(sender_address)))
    message.set_raw("To", address_header("To", to_name or "", check_address(to)))
    message.set_raw("Subject", unstructured_header("Subject", clean_header_text(subject)))
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = message_id
    message.set_content(body, cte=_transfer_encoding(body))
    if html is not None:
        message.add_alternative(html, subtype="html", cte=_transfer_encoding(html))
    return message


def unstructured_header(name: str, text: str) -> str:
    """The folded value of header ``name`` holding ``text`` (RFC 5322 §3.2.5 unstructured), without the name.

    Plain when ``text`` is printable ASCII without ``=?`` and folds at its
    spaces into lines of at most 78 characters (the first after ``name: ``);
    otherwise encoded words. Lines are joined with ``"\\n "``; the policy
    writes CRLF.
    """
    if _plain_ascii(text):
        folded = _fold_words(text.split(" "), first=len(name) + 2)
        if folded is not None:
            return folded
    return "\n ".join(_encoded_words(text, first=len(name) + 2))


def address_header(name: str, display_name: str, addr_spec: str) -> str:
    """The folded value of header ``name`` holding one mailbox (RFC 5322 §3.4): ``display-name <addr-spec>``.

    ``display_name`` (cleaned first) is written as atoms when it is printable
    ASCII of atext and spaces, as a quoted string (``"`` and ``\\`` escaped,
    RFC 5322 §3.2.4) when it has other specials such as commas, folded at its
    spaces; otherwise (or when one of its words is too long for a line) as one encoded word
    (RFC 2047 §5 (3)). A name that needs
    more than one encoded word is left out, giving the bare ``addr-spec``: the
    white space between two encoded words of a phrase must be ignored
    (RFC 2047 §6.2) and Python's parser keeps it, so no folding of such a name
    reads back the same in both. An empty name gives the bare ``addr-spec`` too.
    """
    display_name = clean_header_text(display_name)
    angle, first = f"<{addr_spec}>", len(name) + 2
    if not display_name:
        return addr_spec
    if _plain_ascii(display_name):
        phrase = display_name if set(display_name) <= _ATEXT | {" "} else _quoted(display_name)
        folded = _fold_words([*phrase.split(" "), angle], first=first)
        if folded is not None:
            return folded
    word = _encoded(display_name)
    if first + len(word) > min(MAX_LINE_LENGTH, first + ENCODED_WORD_MAX_LENGTH):
        return addr_spec
    return f"{word} {angle}" if first + len(word) + 1 + len(angle) <= MAX_LINE_LENGTH else f"{word}\n {angle}"


def _transfer_encoding(text: str) -> str | None:
    """Quoted-printable for text that is not ASCII; else None: 7bit, or quoted-printable for lines over 78."""
    return None if text.isascii() else "quoted-printable"


def _plain_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable() and "=?" not in text


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fold_words(words: list[str], *, first: int) -> str | None:
    """``words`` joined by spaces, folded before a space so each line is at most 78 characters; None if one cannot."""
    lines, line, used = [], "", first
    for word in words:
        if not line:
            line, used = word, used + len(word)
        elif used + 1 + len(word) <= MAX_LINE_LENGTH:
            line, used = f"{line} {word}", used + 1 + len(word)
        else:
            lines.append(line)
            # The space starts the next line: unfolding removes only the CRLF (RFC 5322 §2.2.3).
            line, used = word, 1 + len(word)
        if used > MAX_LINE_LENGTH:
            return None
    lines.append(line)
    return "\n ".join(lines)


def _encoded_words(text: str, *, first: int) -> list[str]:
    """``text`` as "B" encoded words of whole characters, the first fitting after ``first`` columns, each
    later one after the folding space; together at most 78 characters a line."""
    words, chunk = [], ""
    room = MAX_LINE_LENGTH - first
    for ch in text:
        if chunk and len(_encoded(chunk + ch)) > min(room, ENCODED_WORD_MAX_LENGTH):
            words.append(_encoded(chunk))
            chunk, room = "", MAX_LINE_LENGTH - 1
        chunk += ch
    words.append(_encoded(chunk))
    return words


def _encoded(text: str) -> str:
    return _EW_PREFIX + base64.b64encode(text.encode("utf-8")).decode("ascii") + _EW_SUFFIX
