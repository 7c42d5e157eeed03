"""PDF/A-2b and PDF/A-3b: an sRGB output intent, XMP identification agreeing with the
information dictionary, annotations set to print, no actions a viewer would run on its own;
and the project's own conformance checks of a result (`pdfa_problems`), which find what the
steps are responsible for: fonts not embedded, a missing output intent or identification,
encryption, a missing file identifier, hidden annotations, attachments PDF/A-2 forbids or
PDF/A-3 needs described. Blocking: run it in a thread."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from pikepdf import Array, Dictionary, Name, Pdf, Stream, String

from pdfprompt.pdf.xmp import Identification, read_xmp, write_xmp, xmp_value

# Annotation flags (PDF 32000-1, 12.5.3).
_INVISIBLE, _HIDDEN, _PRINT, _NO_VIEW = 1, 2, 4, 32
_FONT_FILES = (Name.FontFile, Name.FontFile2, Name.FontFile3)
_MAX_RESOURCE_DEPTH = 20
_BLEND_MODES = frozenset(
    {
        "/Normal",
        "/Compatible",
        "/Multiply",
        "/Screen",
        "/Overlay",
        "/Darken",
        "/Lighten",
        "/ColorDodge",
        "/ColorBurn",
        "/HardLight",
        "/SoftLight",
        "/Difference",
        "/Exclusion",
        "/Hue",
        "/Saturation",
        "/Color",
        "/Luminosity",
    }
)


@functools.cache
def srgb_profile() -> bytes:
    """An sRGB ICC profile (made by Little CMS through Pillow)."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def make_pdfa(pdf: Pdf, level: str, *, pdfua: bool = False) -> None:
    """`pdf` (changed in place) made PDF/A-`level` ("2b" or "3b"): output intent, XMP
    identification (and PDF/UA's when `pdfua`), annotations that print, no automatic
    actions. What it cannot mend (a font not embedded) `pdfa_problems` reports."""
    profile = Stream(pdf, srgb_profile())
    profile[Name.N] = 3
    intent = Dictionary(
        Type=Name.OutputIntent,
        S=Name.GTS_PDFA1,
        OutputConditionIdentifier=String("sRGB IEC61966-2.1"),
        Info=String("sRGB IEC61966-2.1"),
        RegistryName=String("http://www.color.org"),
        DestOutputProfile=pdf.make_indirect(profile),
    )
    pdf.Root[Name.OutputIntents] = Array([pdf.make_indirect(intent)])
    for holder in (pdf.Root, *(page.obj for page in pdf.pages)):
        if Name.AA in holder:
            del holder[Name.AA]
    if Name.OpenAction in pdf.Root:
        action = pdf.Root[Name.OpenAction]
        if isinstance(action, Dictionary) and action.get(Name.S) != Name.GoTo:
            del pdf.Root[Name.OpenAction]
    names = pdf.Root.get(Name.Names)
    if isinstance(names, Dictionary) and Name.JavaScript in names:
        del names[Name.JavaScript]
    for page in pdf.pages:
        for annot in page.obj.get(Name.Annots, Array()):
            if not isinstance(annot, Dictionary) or annot.get(Name.Subtype) == Name.Popup:
                continue
            flags = int(annot.get(Name.F, 0))
            annot[Name.F] = (flags | _PRINT) & ~(_INVISIBLE | _HIDDEN | _NO_VIEW)
    for image in images(pdf):
        if bool(image.get(Name.Interpolate, False)):
            image[Name.Interpolate] = False  # PDF/A: no smoothing a viewer may vary
    part = 3 if level == "3b" else 2
    write_xmp(pdf, Identification(part, "B", 1 if pdfua else None))


def fonts(pdf: Pdf) -> Iterator[tuple[str, Dictionary]]:
    """Every font the pages, their form XObjects and annotations' appearances use (each
    once), with where it was found."""
    seen: set[tuple[int, int]] = set()

    def walk(resources: object, where: str, depth: int) -> Iterator[tuple[str, Dictionary]]:
        if not isinstance(resources, Dictionary) or depth > _MAX_RESOURCE_DEPTH:
            return
        for font in resources.get(Name.Font, Dictionary()).values():
            if isinstance(font, Dictionary) and font.objgen not in seen:
                if font.is_indirect:
                    seen.add(font.objgen)
                yield where, font
        for xobject in resources.get(Name.XObject, Dictionary()).values():
            if (
                isinstance(xobject, Stream)
                and xobject.get(Name.Subtype) == Name.Form
                and xobject.objgen not in seen
            ):
                seen.add(xobject.objgen)
                yield from walk(xobject.get(Name.Resources), where, depth + 1)

    for number, page in enumerate(pdf.pages, 1):
        yield from walk(page.obj.get(Name.Resources), f"page {number}", 0)
        for annot in page.obj.get(Name.Annots, Array()):
            appearance = annot.get(Name.AP) if isinstance(annot, Dictionary) else None
            if isinstance(appearance, Dictionary):
                for state in appearance.values():
                    streams = state.values() if isinstance(state, Dictionary) else [state]
                    for stream in streams:
                        if isinstance(stream, Stream) and stream.objgen not in seen:
                            seen.add(stream.objgen)
                            yield from walk(stream.get(Name.Resources), f"page {number}", 1)


def images(pdf: Pdf) -> Iterator[Stream]:
    """Every image XObject the pages and their form XObjects use (each once)."""
    seen: set[tuple[int, int]] = set()
    pending: list[tuple[object, int]] = [(page.obj.get(Name.Resources), 0) for page in pdf.pages]
    while pending:
        resources, depth = pending.pop()
        if not isinstance(resources, Dictionary) or depth > _MAX_RESOURCE_DEPTH:
            continue
        for xobject in resources.get(Name.XObject, Dictionary()).values():
            if not isinstance(xobject, Stream) or xobject.objgen in seen:
                continue
            seen.add(xobject.objgen)
            if xobject.get(Name.Subtype) == Name.Image:
                yield xobject
                mask = xobject.get(Name.SMask)
                if isinstance(mask, Stream) and mask.objgen not in seen:
                    seen.add(mask.objgen)
                    yield mask
            elif xobject.get(Name.Subtype) == Name.Form:
                pending.append((xobject.get(Name.Resources), depth + 1))


def font_problems(pdf: Pdf) -> list[str]:
    """Fonts whose program is not embedded."""
    found = []
    for where, font in fonts(pdf):
        if font.get(Name.Subtype) == Name.Type3:
            continue
        described: object = font
        if font.get(Name.Subtype) == Name.Type0:
            descendants = font.get(Name.DescendantFonts, Array())
            described = descendants[0] if len(descendants) else Dictionary()
        descriptor = (
            described.get(Name.FontDescriptor) if isinstance(described, Dictionary) else None
        )
        if not isinstance(descriptor, Dictionary) or not any(
            key in descriptor for key in _FONT_FILES
        ):
            found.append(f"{where}: font {font.get(Name.BaseFont)} is not embedded")
    return found


def pdfa_problems(pdf: Pdf, level: str) -> list[str]:
    """What keeps `pdf` (as read back from its saved bytes) from being PDF/A-`level`,
    among what the finishing steps answer for; empty when nothing."""
    found: list[str] = []
    if pdf.is_encrypted:
        found.append("the file is encrypted")
    ids = pdf.trailer.get(Name.ID)
    if not isinstance(ids, Array) or len(ids) != 2:
        found.append("the trailer has no file identifier (/ID)")
    if not (pdf.pdf_version >= "1.4" and pdf.pdf_version <= "1.7"):
        found.append(f"PDF version {pdf.pdf_version} is not 1.4 to 1.7")
    intents = pdf.Root.get(Name.OutputIntents, Array())
    pdfa_intents = [i for i in intents if i.get(Name.S) == Name.GTS_PDFA1]
    if len(pdfa_intents) != 1:
        found.append("there is not exactly one GTS_PDFA1 output intent")
    else:
        profile = pdfa_intents[0].get(Name.DestOutputProfile)
        if not isinstance(profile, Stream) or int(profile.get(Name.N, 0)) != 3:
            found.append("the output intent has no RGB ICC profile")
    packet = read_xmp(pdf)
    metadata = pdf.Root.get(Name.Metadata)
    if isinstance(metadata, Stream) and Name.Filter in metadata:
        found.append("the XMP metadata stream is compressed")
    part, conformance = (
        xmp_value(packet, "pdfaid", "part"),
        xmp_value(packet, "pdfaid", "conformance"),
    )
    if part != level[0] or (conformance or "").upper() != level[1].upper():
        found.append(f"the XMP identification is part {part} conformance {conformance}")
    title = pdf.docinfo.get(Name.Title)
    if title is not None and str(title) and f">{_xml_text(str(title))}<" not in packet:
        found.append("the XMP dc:title does not match the document information's title")
    if Name.AA in pdf.Root:
        found.append("the catalog has automatic actions (/AA)")
    names = pdf.Root.get(Name.Names, Dictionary())
    if Name.JavaScript in names:
        found.append("the document has JavaScript")
    found += font_problems(pdf)
    if any(bool(image.get(Name.Interpolate, False)) for image in images(pdf)):
        found.append("an image asks for interpolation (/Interpolate true)")
    for number, page in enumerate(pdf.pages, 1):
        if Name.AA in page.obj:
            found.append(f"page {number} has automatic actions (/AA)")
        for annot in page.obj.get(Name.Annots, Array()):
            if not isinstance(annot, Dictionary) or annot.get(Name.Subtype) == Name.Popup:
                continue
            flags = int(annot.get(Name.F, 0))
            if not flags & _PRINT or flags & (_INVISIBLE | _HIDDEN | _NO_VIEW):
                found.append(f"page {number}: an annotation is not set to print (flags {flags})")
            action = annot.get(Name.A)
            if isinstance(action, Dictionary) and action.get(Name.S) in (
                Name.Launch,
                Name.JavaScript,
                Name.ImportData,
                Name.ResetForm,
            ):
                found.append(f"page {number}: an annotation runs a {action.get(Name.S)} action")
        for state in _graphics_states(page.obj.get(Name.Resources)):
            if Name.TR in state or (Name.TR2 in state and state.get(Name.TR2) != Name.Default):
                found.append(f"page {number}: a graphics state has a transfer function")
            blend = state.get(Name.BM)
            modes = list(blend) if isinstance(blend, Array) else [blend]
            if blend is not None and any(str(m) not in _BLEND_MODES for m in modes):
                found.append(f"page {number}: a graphics state has blend mode {blend}")
    attached = dict(pdf.attachments.items())
    if level == "2b" and attached:
        found.append("PDF/A-2 files carry no attachments but PDF/A ones (use 3b)")
    if level == "3b":
        listed = {spec.objgen for spec in pdf.Root.get(Name.AF, Array())}
        for name, spec in attached.items():
            if Name.AFRelationship not in spec.obj:
                found.append(f"attachment {name}: no /AFRelationship")
            if spec.obj.objgen not in listed:
                found.append(f"attachment {name}: not in the catalog's /AF")
            for stream in spec.obj.get(Name.EF, Dictionary()).values():
                if Name.Subtype not in stream:
                    found.append(f"attachment {name}: no media type (/Subtype)")
                params = stream.get(Name.Params)
                if not isinstance(params, Dictionary) or Name.ModDate not in params:
                    found.append(f"attachment {name}: no modification date")
    return found


def _graphics_states(resources: object) -> Iterator[Dictionary]:
    if isinstance(resources, Dictionary):
        for state in resources.get(Name.ExtGState, Dictionary()).values():
            if isinstance(state, Dictionary):
                yield state


def _xml_text(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text)
