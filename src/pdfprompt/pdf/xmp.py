"""The document's XMP metadata, written from its information dictionary (so that the two
agree, as PDF/A asks), with the PDF/A and PDF/UA identification when asked; and read back.
PDF/A-2 and -3 know only their own schemas: the PDF/UA identification is declared in a
PDF/A extension schema when both are present."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from pikepdf import Name, Pdf, Stream, String

_PDF_DATE = re.compile(
    r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:([Zz+-])(\d{2})?'?(\d{2})?'?)?$"
)
_PDFUA_EXTENSION = """
   <pdfaExtension:schemas>
    <rdf:Bag>
     <rdf:li rdf:parseType="Resource">
      <pdfaSchema:schema>PDF/UA Universal Accessibility Schema</pdfaSchema:schema>
      <pdfaSchema:namespaceURI>http://www.aiim.org/pdfua/ns/id/</pdfaSchema:namespaceURI>
      <pdfaSchema:prefix>pdfuaid</pdfaSchema:prefix>
      <pdfaSchema:property>
       <rdf:Seq>
        <rdf:li rdf:parseType="Resource">
         <pdfaProperty:name>part</pdfaProperty:name>
         <pdfaProperty:valueType>Integer</pdfaProperty:valueType>
         <pdfaProperty:category>internal</pdfaProperty:category>
         <pdfaProperty:description>Part of ISO 14289 followed</pdfaProperty:description>
        </rdf:li>
       </rdf:Seq>
      </pdfaSchema:property>
     </rdf:li>
    </rdf:Bag>
   </pdfaExtension:schemas>"""


@dataclass(frozen=True, slots=True)
class Identification:
    pdfa_part: int | None = None  # 2 or 3
    pdfa_conformance: str | None = None  # "B"
    pdfua_part: int | None = None  # 1


def xmp_date(value: str) -> str | None:
    """A PDF date (D:20240514101500+02'00') as an XMP one (2024-05-14T10:15:00+02:00)."""
    found = _PDF_DATE.match(value.strip())
    if found is None:
        return None
    y, mo, d, h, mi, s, sign, tzh, tzm = found.groups()
    text = f"{y}-{mo or '01'}-{d or '01'}T{h or '00'}:{mi or '00'}:{s or '00'}"
    if sign in (None, "Z", "z"):
        return text + "Z"
    return text + f"{sign}{tzh or '00'}:{tzm or '00'}"


def write_xmp(pdf: Pdf, ident: Identification) -> None:
    """The catalog's /Metadata made from the information dictionary (its dates set when
    missing), with `ident`; uncompressed."""
    info = pdf.docinfo
    now = datetime.now(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
    for key in (Name.CreationDate, Name.ModDate):
        if xmp_date(str(info.get(key, ""))) is None:
            info[key] = String(now)
    if Name.Producer not in info:
        info[Name.Producer] = String("pdfprompt")

    def text(key: Name) -> str | None:
        value = info.get(key)
        return str(value) if value is not None and str(value) else None

    parts: list[str] = []
    title, author, subject = text(Name.Title), text(Name.Author), text(Name.Subject)
    if title:
        parts.append(
            '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">'
            f"{escape(title)}</rdf:li></rdf:Alt></dc:title>"
        )
    if author:
        parts.append(
            f"<dc:creator><rdf:Seq><rdf:li>{escape(author)}</rdf:li></rdf:Seq></dc:creator>"
        )
    if subject:
        parts.append(
            '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
            f"{escape(subject)}</rdf:li></rdf:Alt></dc:description>"
        )
    parts.append("<dc:format>application/pdf</dc:format>")
    keywords, producer, creator = text(Name.Keywords), text(Name.Producer), text(Name.Creator)
    if keywords:
        parts.append(f"<pdf:Keywords>{escape(keywords)}</pdf:Keywords>")
    if producer:
        parts.append(f"<pdf:Producer>{escape(producer)}</pdf:Producer>")
    if creator:
        parts.append(f"<xmp:CreatorTool>{escape(creator)}</xmp:CreatorTool>")
    created = xmp_date(str(info[Name.CreationDate]))
    modified = xmp_date(str(info[Name.ModDate]))
    parts.append(f"<xmp:CreateDate>{created}</xmp:CreateDate>")
    parts.append(f"<xmp:ModifyDate>{modified}</xmp:ModifyDate>")
    parts.append(f"<xmp:MetadataDate>{modified}</xmp:MetadataDate>")
    if ident.pdfa_part is not None:
        parts.append(f"<pdfaid:part>{ident.pdfa_part}</pdfaid:part>")
        parts.append(f"<pdfaid:conformance>{ident.pdfa_conformance}</pdfaid:conformance>")
    if ident.pdfua_part is not None:
        parts.append(f"<pdfuaid:part>{ident.pdfua_part}</pdfuaid:part>")
    extension = _PDFUA_EXTENSION if ident.pdfa_part and ident.pdfua_part else ""
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:pdf="http://ns.adobe.com/pdf/1.3/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"'
        ' xmlns:pdfuaid="http://www.aiim.org/pdfua/ns/id/"'
        ' xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/"'
        ' xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#"'
        ' xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">\n   '
        + "\n   ".join(parts)
        + extension
        + "\n  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
        + (" " * 99 + "\n") * 20
        + '<?xpacket end="w"?>'
    )
    stream = Stream(pdf, packet.encode("utf-8"))
    stream[Name.Type] = Name.Metadata
    stream[Name.Subtype] = Name.XML
    pdf.Root[Name.Metadata] = pdf.make_indirect(stream)


def read_xmp(pdf: Pdf) -> str:
    """The catalog's XMP packet as text ("" when there is none)."""
    found = pdf.Root.get(Name.Metadata)
    if not isinstance(found, Stream):
        return ""
    return found.read_bytes().decode("utf-8", "replace")


def xmp_value(packet: str, prefix: str, name: str) -> str | None:
    """The value of a simple XMP property (element or attribute form)."""
    element = re.search(rf"<{prefix}:{name}>([^<]*)</{prefix}:{name}>", packet)
    if element:
        return element.group(1).strip()
    attribute = re.search(rf'\b{prefix}:{name}="([^"]*)"', packet)
    return attribute.group(1).strip() if attribute else None
