"""Which network addresses a job that fetches URLs may reach (the check_url example).

Only public addresses (``ipaddress``'s ``is_global``, and not multicast) are reached, unless
``BEATKEEPER_CHECK_URL_ALLOW`` names the network: private, loopback, link-local (cloud
metadata at 169.254.169.254), shared, reserved and unspecified addresses are refused. A host
name is resolved once and every address it has must pass; the caller then connects to the
address that was checked, so a second look-up cannot rebind the name to another one.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetError(ValueError):
    """The host cannot be resolved, or one of its addresses may not be reached."""


def address_allowed(address: IPAddress, allow: Sequence[IPNetwork] = ()) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allow):
        return True
    return address.is_global and not address.is_multicast


def checked_address(host: str, port: int, allow: Sequence[IPNetwork] = ()) -> str:
    """The first address of ``host``, once every address it resolves to is allowed."""
    try:
        found = socket.getaddrinfo(host.strip("[]"), port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetError(f"cannot resolve {host!r}: {exc}") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
    refused = [str(a) for a in addresses if not address_allowed(a, allow)]
    if refused or not addresses:
        raise TargetError(
            f"{host} resolves to {', '.join(refused) or 'nothing'}, not a public address; "
            "allow its network with BEATKEEPER_CHECK_URL_ALLOW"
        )
    return str(addresses[0])
