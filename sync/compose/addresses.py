"""Addresses for composing: parse what the user typed, spot the user's own, complete a prefix.

Parsing goes through ``email.policy.default``'s address header parser (RFC 5322 §3.4), one
list item at a time, so an error can name the item that is wrong. Display names are kept as
Unicode here; ``email`` encodes them (RFC 2047) when the message is generated.
"""

from __future__ import annotations

import email.policy
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from email.headerregistry import Address

__all__ = [
    "AddressCompletion",
    "AddressError",
    "complete_address",
    "format_address",
    "format_addresses",
    "is_own_address",
    "parse_address_list",
    "unique_addresses",
]


class AddressError(ValueError):
    """Text that is not a list of mail addresses; the message names the bad item."""


@dataclass(frozen=True, slots=True)
class AddressCompletion:
    """One completion candidate: ``name`` (may be empty), ``email`` and how often it was used."""

    name: str
    email: str
    uses: int

    def display(self) -> str:
        """The candidate as it goes into a header line: ``Name <email>`` or the bare address."""
        return format_address(Address(self.name, addr_spec=self.email))


def _split_items(text: str) -> list[str]:
    """Split an address list on the commas that separate items (not those in quotes,
    comments or angle brackets), keeping ``group: a, b;`` constructs whole (RFC 5322 §3.4)."""
    items: list[str] = []
    current: list[str] = []
    in_quotes = escaped = in_group = False
    depth_angle = depth_comment = 0
    for char in text:
        current.append(char)
        if escaped:
            escaped = False
        elif char == "\\" and (in_quotes or depth_comment):
            escaped = True
        elif in_quotes:
            in_quotes = char != '"'
        elif char == '"':
            in_quotes = True
        elif char == "(":
            depth_comment += 1
        elif char == ")" and depth_comment:
            depth_comment -= 1
        elif depth_comment:
            continue
        elif char == "<":
            depth_angle += 1
        elif char == ">" and depth_angle:
            depth_angle -= 1
        elif depth_angle:
            continue
        elif char == ":":
            in_group = True
        elif char == ";" and in_group:
            in_group = False
        elif char == "," and not in_group:
            current.pop()
            items.append("".join(current))
            current = []
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _clean_domain(address: Address) -> Address:
    # An internationalised domain goes on the wire as IDNA A-labels (RFC 5890), which every
    # server accepts; a non-ASCII local part needs SMTPUTF8 and is left for the sender.
    domain = address.domain
    if domain.isascii():
        return address
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise AddressError(f"not a valid domain: {domain!r}") from None
    return Address(address.display_name, address.username, ascii_domain)


def parse_address_list(text: str) -> tuple[Address, ...]:
    """Parse ``text`` (``Name <a@b>, c@d, "Doe, J" <j@e>``) into addresses.

    Groups contribute their members (``undisclosed-recipients:;`` contributes none). Raises
    :class:`AddressError` naming the first item that is not exactly one ``local@domain``.
    """
    found: list[Address] = []
    for item in _split_items(text):
        try:
            header = email.policy.default.header_factory("to", item)
            groups = header.groups
        except Exception:
            raise AddressError(f"not an address: {item!r}") from None
        addresses = [address for group in groups for address in group.addresses]
        is_group = any(group.display_name is not None for group in groups)
        if (not is_group and len(addresses) != 1) or header.defects:
            raise AddressError(f"not an address: {item!r}")
        for address in addresses:
            if not address.username or not address.domain:
                raise AddressError(f"not a complete address (local@domain): {item!r}")
            found.append(_clean_domain(address))
    return tuple(found)


def format_address(address: Address) -> str:
    """``Name <a@b>`` (name quoted when RFC 5322 needs it) or just ``a@b``; Unicode kept."""
    if not address.display_name:
        return address.addr_spec
    return str(address)


def format_addresses(addresses: Iterable[Address]) -> str:
    """Join addresses for a header line, as :func:`format_address` writes each."""
    return ", ".join(format_address(address) for address in addresses)


def _key(addr_spec: str) -> str:
    # Local parts are case-sensitive in theory (RFC 5321 §2.4) but not in practice, and a
    # reply-all that puts the user's own "Me@Example.org" back in Cc is the real bug.
    return addr_spec.strip().casefold()


def is_own_address(address: Address | str, own: Iterable[str]) -> bool:
    """True when ``address`` is one of ``own`` (bare addresses), ignoring case."""
    spec = address.addr_spec if isinstance(address, Address) else address
    key = _key(spec)
    return any(key == _key(mine) for mine in own)


def unique_addresses(
    addresses: Iterable[Address], *, exclude: Iterable[str] = ()
) -> tuple[Address, ...]:
    """Drop repeats (by address, ignoring case; the first wins) and any address in ``exclude``."""
    seen = {_key(spec) for spec in exclude}
    kept: list[Address] = []
    for address in addresses:
        key = _key(address.addr_spec)
        if key in seen:
            continue
        seen.add(key)
        kept.append(address)
    return tuple(kept)


def _fold(text: str) -> str:
    """Case- and accent-insensitive form: "José" matches the prefix "jose"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


_WORD_SEPARATORS = str.maketrans({char: " " for char in ".,_-+'\"()<>@"})


def _match_rank(prefix: str, name: str, addr: str) -> int | None:
    """0: the address starts with the prefix; 1: the name does; 2: a word of either does."""
    if addr.startswith(prefix):
        return 0
    if name.startswith(prefix):
        return 1
    local = addr.partition("@")[0]
    words = name.translate(_WORD_SEPARATORS).split() + local.translate(_WORD_SEPARATORS).split()
    if any(word.startswith(prefix) for word in words):
        return 2
    return None


def complete_address(
    prefix: str, candidates: Iterable[tuple[str, str]], *, limit: int = 20
) -> list[AddressCompletion]:
    """Rank the ``(name, address)`` pairs that match ``prefix``, most used first.

    Each pair counts as one use of its address (feed one pair per message sent or received),
    so repeats raise the rank; the most frequent non-empty name is shown for an address.
    A pair matches when the address, the name, a word of the name or a word of the local
    part starts with the prefix, ignoring case and accents. Ties go to the better match
    (address prefix, then name prefix, then word prefix), then alphabetically.
    """
    wanted = _fold(prefix.strip())
    uses: dict[str, int] = {}
    spelled: dict[str, str] = {}
    names: dict[str, dict[str, int]] = {}
    for name, addr in candidates:
        addr = addr.strip()
        if not addr:
            continue
        key = _key(addr)
        uses[key] = uses.get(key, 0) + 1
        spelled.setdefault(key, addr)
        name = " ".join(name.split())
        if name:
            counts = names.setdefault(key, {})
            counts[name] = counts.get(name, 0) + 1

    ranked: list[tuple[int, int, str, AddressCompletion]] = []
    for key, count in uses.items():
        name_counts = names.get(key, {})
        # Most used spelling of the name; ties to the first seen (dicts keep order).
        name = max(name_counts, key=lambda n: name_counts[n]) if name_counts else ""
        rank = _match_rank(wanted, _fold(name), _fold(key)) if wanted else 0
        if rank is None:
            continue
        completion = AddressCompletion(name=name, email=spelled[key], uses=count)
        ranked.append((-count, rank, key, completion))
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked[: max(limit, 0)]]
