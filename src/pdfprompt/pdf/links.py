"""Actions a PDF reader would run, kept only when harmless: links to http, https and mailto
addresses and to places in the document itself.

A document's `<a href>` becomes a link annotation whose action opens the address; a
`javascript:` or `file:` address (or any scheme but http, https and mailto) would be run or
opened by the reader. Such an action is dropped from its annotation, which stays, inert, where
it was (a tagged PDF's structure still points at it). Every other kind of action (Launch,
JavaScript, GoToR, ImportData, SubmitForm, …) is dropped too, wherever it is: an annotation's
action or additional actions, a page's additional actions, an outline entry's action, the
document's open action, additional actions and JavaScript names."""

from __future__ import annotations

import re
import zlib
from typing import Any

from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

from pdfprompt.pdf.metadata import outline_items
from pdfprompt.pdf.update import PdfUpdate, dictionary

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_NAME_ENDS = rb"(?![^\s()<>\[\]{}/%])"
# What the fast scan takes for an action that may not be harmless: a standard action type
# other than URI and GoTo, or one held in an object of its own; a /URI followed by a value that
# is not a name (the action type) nor a literal string beginning with an allowed scheme (one
# written in hex, with escapes, or held in an object of its own is read the long way). /URI
# also names a dictionary of base addresses: that is read the long way too. The whole file is
# searched, compressed streams included: skipping them would take finding where each ends,
# which a string in a dictionary could fake; the patterns are too long to turn up by chance
# in compressed data.
_UNSAFE = re.compile(
    rb"/S" + _NAME_ENDS + rb"\s*+(?:\d+\s+\d+\s+R|/(?:GoToR|GoToE|GoToDp|Launch|Thread|Sound"
    rb"|Movie|Hide|Named|SubmitForm|ResetForm|ImportData|SetOCGState|Rendition|Trans"
    rb"|GoTo3DView|JavaScript|RichMediaExecute)" + _NAME_ENDS + rb")"
    rb"|/URI" + _NAME_ENDS + rb"\s*+(?:[^/>(]|\((?!(?i:https?|mailto):))"
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_MAX_CHAIN = 64  # actions followed through /Next


def may_have_unsafe_actions(pdf: bytes) -> bool:
    """False when the PDF certainly has no action but links to http, https and mailto
    addresses and within it; True when it may. A search of its bytes, without parsing it;
    the objects of a compressed object stream (WeasyPrint puts every dictionary in those)
    are searched decompressed."""
    if _UNSAFE.search(pdf):
        return True
    at = pdf.find(b"/ObjStm")
    while at != -1:
        objects = _object_stream(pdf, at)
        if objects is None or _UNSAFE.search(objects):
            return True
        at = pdf.find(b"/ObjStm", at + 7)
    return False


def _object_stream(pdf: bytes, at: int) -> bytes | None:
    """The decompressed data of the object stream whose dictionary names /ObjStm at `at`;
    None when it is not plainly Flate-compressed (it is then read the long way)."""
    begins = pdf.rfind(b"obj", 0, at)
    data = pdf.find(b"stream", at)
    header = pdf[begins:data]
    if begins == -1 or data == -1 or b"endobj" in header:
        return None
    if header.count(b"/Filter") != 1 or b"/FlateDecode" not in header or b"/DecodeParms" in header:
        return None
    data += 6
    data += 2 if pdf.startswith(b"\r\n", data) else 1
    inflate = zlib.decompressobj()
    try:
        objects = inflate.decompress(memoryview(pdf)[data:])
    except zlib.error:
        return None
    return objects if inflate.eof else None


def safe_uri(uri: object) -> bool:
    """Whether a URI action's address is absolute with an allowed scheme, spelled exactly: a
    relative address (a reader would resolve it against the file, file: for a local one),
    leading white space or control characters, and every other scheme are not."""
    if isinstance(uri, bytes):
        uri = uri.decode("latin-1")
    if not isinstance(uri, str):
        return False
    found = _SCHEME.match(uri)
    return found is not None and found.group(1).lower() in SAFE_SCHEMES


def disarm(update: PdfUpdate) -> int:
    """Drop every action that is not harmless; how many were dropped."""
    dropped = 0
    root = update.root
    root_ref = update.trailer.raw_get("/Root")
    # An open action that is a destination (an array) only shows a page.
    opening = _entry(root, "/OpenAction")
    if isinstance(opening, DictionaryObject) and not _safe_action(opening):
        del root["/OpenAction"]
        dropped += 1
    dropped += _drop_additional(root)
    if "/Names" in root:
        names = dictionary(root["/Names"])
        if "/JavaScript" in names:
            del names["/JavaScript"]
            dropped += 1
            _changed(update, root.raw_get("/Names"), root_ref, root)
    if dropped:
        update.change(root_ref, root)
    for entry_ref, entry in outline_items(root):
        if "/A" in entry and not _safe_action(entry["/A"]):
            del entry["/A"]
            dropped += 1
            update.change(entry_ref, entry)
    for page in update.reader.pages:
        ref = page.indirect_reference
        assert ref is not None
        if _drop_additional(page):
            dropped += 1
            update.change(ref, page)
        if "/Annots" not in page:
            continue
        annots_raw = page.raw_get("/Annots")
        annots = annots_raw.get_object()
        if not isinstance(annots, ArrayObject):
            continue
        for item in annots:
            annot = item.get_object()
            if not isinstance(annot, DictionaryObject):
                continue
            removed = _drop_additional(annot)
            if "/A" in annot and not _safe_action(annot["/A"]):
                del annot["/A"]
                removed += 1
            if removed:
                dropped += removed
                # The annotation is written where it lies: an object of its own, or in the
                # array, itself an object of its own or in the page.
                holder = item if isinstance(item, IndirectObject) else annots_raw
                _changed(update, holder, ref, page)
    return dropped


def _changed(update: PdfUpdate, raw: Any, holder: IndirectObject, held: PdfObject) -> None:
    """Mark changed the object `raw` is, or, when it is direct, the object holding it."""
    found = raw.get_object() if isinstance(raw, IndirectObject) else None
    if isinstance(raw, IndirectObject) and found is not None:
        update.change(raw, found)
    else:
        update.change(holder, held)


def _drop_additional(obj: DictionaryObject) -> int:
    """Drop the entries of `obj`'s additional actions (/AA) that are not harmless, and /AA
    when none is left; how many were dropped."""
    if "/AA" not in obj:
        return 0
    actions = obj["/AA"].get_object()
    if not isinstance(actions, DictionaryObject):
        del obj["/AA"]
        return 1
    unsafe = [key for key in actions if not _safe_action(actions[key])]
    if not unsafe and actions:
        return 0
    # A new dictionary: the old one may be an object of its own, and is left as it was.
    kept = DictionaryObject({k: actions.raw_get(k) for k in actions if k not in unsafe})
    if kept:
        obj[NameObject("/AA")] = kept
    else:
        del obj["/AA"]
    return max(len(unsafe), 1)


def _entry(obj: DictionaryObject, key: str) -> Any:
    """`obj[key]`, resolved, or None (pypdf's `get` is dict's: it does not resolve)."""
    try:
        return obj[key]
    except KeyError:
        return None


def _safe_action(action: Any) -> bool:
    """Whether an action, and every action it chains to (/Next), is a link to an allowed
    address or to a place in the document."""
    pending = [action]
    seen = 0
    while pending:
        seen += 1
        if seen > _MAX_CHAIN:
            return False
        found = pending.pop().get_object()
        if not isinstance(found, DictionaryObject):
            return False
        kind = _entry(found, "/S")
        if kind == "/URI":
            if not safe_uri(_entry(found, "/URI")):
                return False
        elif kind != "/GoTo":
            return False
        if "/Next" in found:
            following = found["/Next"].get_object()
            pending.extend(following if isinstance(following, ArrayObject) else [following])
    return True
