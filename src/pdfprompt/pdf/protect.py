"""AES-256 encryption (security handler revision 6) with a user password (needed to open
the file; none: anyone opens it, and the permissions restrict what they may do) and an owner
password (lifts the restrictions; a random one when not given)."""

from __future__ import annotations

import secrets

from pikepdf import Encryption, Permissions

from pdfprompt.domain import Protection


def encryption(protection: Protection) -> Encryption:
    """The pikepdf encryption settings `protection` asks for."""
    allow = Permissions(
        accessibility=True,  # screen readers may always extract text
        extract=protection.copy,
        modify_annotation=protection.annotate,
        modify_form=protection.annotate,
        modify_assembly=protection.modify,
        modify_other=protection.modify,
        print_lowres=protection.print,
        print_highres=protection.print,
    )
    owner = protection.owner_password or secrets.token_urlsafe(32)
    return Encryption(
        owner=owner, user=protection.user_password or "", R=6, aes=True, metadata=True, allow=allow
    )
