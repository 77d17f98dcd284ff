"""Documents and reports with something to read (DocumentReference, DiagnosticReport),
newest first; and the patient's Binaries no document names (filed under the patient by
their securityContext, index/contexts.py), each a document of its own, so that no file
of the patient is out of reach."""

from __future__ import annotations

from ....fhir.clinical import code_status
from ....fhir.clinical.values import as_dict, as_list, as_text, concept_text, concept_words, effective, period
from ....fhir.refs import target
from .model import Document, Summary
from .reader import Reader

MAX_DOCUMENTS = 60
FILE = "Fichier"  # a Binary no document names: its type, and the start of its title
KINDS = {"application/pdf": "PDF", "text/plain": "texte"}


def documents(reader: Reader, summary: Summary) -> None:
    def reference(resource: dict) -> Document | None:
        if resource.get("status") in ("superseded",):
            return None
        contents = [as_dict(as_dict(c).get("attachment")) for c in as_list(resource.get("content"))]
        shown_with(contents)
        attachment = next((a for a in contents if a.get("data") or a.get("url")),
                          contents[0] if contents else {})
        authors = [reader.lookup.person(a) for a in as_list(resource.get("author"))]
        date = effective(resource, "date") or as_text(attachment.get("creation")) or \
            period(as_dict(resource.get("context")).get("period"))[0]
        return Document(
            id=as_text(resource.get("id")), kind="DocumentReference",
            type=code_status.document_type(resource) or concept_words(as_list(resource.get("category"))),
            date=date or None, author=", ".join(a for a in authors if a),
            title=as_text(attachment.get("title")) or as_text(resource.get("description")) or "Document",
            content_type=as_text(attachment.get("contentType")),
            has_content=bool(attachment.get("data") or attachment.get("url")))

    def report(resource: dict) -> Document | None:
        forms = [as_dict(f) for f in as_list(resource.get("presentedForm"))]
        shown_with(forms)
        conclusion = as_text(resource.get("conclusion"))
        if not forms and not conclusion:
            reader.shown.add(id(resource))  # a panel whose results are shown with the results
            return None
        authors = [reader.lookup.person(a) for a in as_list(resource.get("performer"))]
        form = forms[0] if forms else {}
        return Document(
            id=as_text(resource.get("id")), kind="DiagnosticReport",
            type=concept_text(resource.get("code")) or "Compte rendu",
            date=effective(resource, "effectiveDateTime", "effectivePeriod", "issued"),
            author=", ".join(a for a in authors if a),
            title=as_text(form.get("title")) or conclusion[:120] or concept_text(resource.get("code")),
            content_type=as_text(form.get("contentType")),
            has_content=bool(form.get("data") or form.get("url")))

    def shown_with(attachments: list[dict]) -> None:
        for attachment in attachments:  # a Binary the document points to is shown with it
            named = target(as_text(attachment.get("url")))
            binary = reader.lookup.own.get(named) if named and named[0] == "Binary" else None
            if binary is not None:
                reader.shown.add(id(binary))

    def binary(resource: dict) -> Document | None:
        if id(resource) in reader.shown:
            return None
        content_type = as_text(resource.get("contentType"))
        return Document(
            id=as_text(resource.get("id")), kind="Binary", type=FILE,
            date=as_text(as_dict(resource.get("meta")).get("lastUpdated")) or None, author="",
            title=" ".join(p for p in (FILE, KINDS.get(content_type.split(";")[0].strip(), content_type)) if p),
            content_type=content_type, has_content=bool(resource.get("data")))

    found = reader.each("DocumentReference", reference) + reader.each("DiagnosticReport", report)
    found += reader.each("Binary", binary)
    found.sort(key=lambda d: -reader.sort_key(d.date))
    summary.documents = found[:MAX_DOCUMENTS]
