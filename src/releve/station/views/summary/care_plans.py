"""Care plans of every kind in force (CarePlan), with their goals (Goal, referenced or
contained) and activities; a chemotherapy or radiotherapy course in progress is the
oncology section's. Goals no plan points to are listed as a plan of their own."""

from __future__ import annotations

from ....fhir.clinical.values import (
    as_dict,
    as_list,
    as_text,
    concept_text,
    concept_words,
    first_code,
    given_number,
    period,
    quantity_text,
    range_text,
    resource_text,
)
from .chart_labels import status_label
from .model import Activity, CarePlanItem, Goal, Summary
from .oncology import activity_date, treatment_kind
from .reader import Reader

ENDED_PLANS = ("completed", "revoked", "entered-in-error")
DROPPED_GOALS = ("cancelled", "rejected", "entered-in-error")


def target_text(target: dict) -> str:
    """'HbA1c ≤ 7 %', 'Douleur : 0 – 3': a goal's target as a ward reads it."""
    measure = concept_text(target.get("measure"))
    if "detailQuantity" in target:
        detail = quantity_text(target["detailQuantity"])
    elif "detailRange" in target:
        detail = range_text(target["detailRange"])
    elif "detailCodeableConcept" in target:
        detail = concept_text(target["detailCodeableConcept"])
    elif "detailBoolean" in target:
        detail = "oui" if target["detailBoolean"] is True else "non"
    else:
        detail = as_text(target.get("detailString")) or given_number(target.get("detailInteger"))
    return " : ".join(p for p in (measure, detail) if p)


def goal(resource: dict) -> Goal:
    targets = [as_dict(t) for t in as_list(resource.get("target"))]
    due = next((as_text(t.get("dueDate")) for t in targets if as_text(t.get("dueDate"))), None)
    status = status_label(as_text(resource.get("lifecycleStatus")))
    achievement = status_label(first_code(resource.get("achievementStatus")))
    return Goal(concept_text(resource.get("description")) or "Objectif",
                ", ".join(p for p in dict.fromkeys((status, achievement)) if p),
                [t for t in (target_text(t) for t in targets) if t], due)


def activity(reader: Reader, plan: dict, entry: dict) -> Activity | None:
    detail = as_dict(entry.get("detail"))
    ref = entry.get("reference")
    if detail:
        if detail.get("status") in ("entered-in-error",):
            return None
        products = concept_text(detail.get("productCodeableConcept"))
        text = concept_text(detail.get("code")) or as_text(detail.get("description")) or products
        when = activity_date(detail) or as_text(detail.get("scheduledString")) or None
        return Activity(text or "Activité", status_label(as_text(detail.get("status"))), when)
    if ref:
        found = reader.resolve(plan, ref)
        text = (resource_text(found) if found else "") or as_text(as_dict(ref).get("display"))
        status = status_label(as_text(found.get("status"))) if found else ""
        return Activity(text or "Activité", status) if text else None
    texts = [concept_text(c) for c in as_list(entry.get("outcomeCodeableConcept"))]
    text = ", ".join(t for t in texts if t)
    return Activity(text, "") if text else None


def care_plans(reader: Reader, summary: Summary) -> None:
    linked: set[str] = set()

    def read(resource: dict) -> CarePlanItem | None:
        if resource.get("status") in ENDED_PLANS:
            return None
        activities = [as_dict(a) for a in as_list(resource.get("activity"))]
        details = [as_dict(a.get("detail")) for a in activities if a.get("detail")]
        if treatment_kind(resource, details) is not None:
            return None  # the oncology section's
        goals = []
        for ref in as_list(resource.get("goal")):
            found = reader.resolve(resource, ref, "Goal")
            if found is None:
                if as_text(as_dict(ref).get("display")):
                    goals.append(Goal(as_text(as_dict(ref)["display"]), "", []))
                continue
            linked.add(as_text(found.get("id")))
            if found.get("lifecycleStatus") not in DROPPED_GOALS:
                goals.append(goal(found))
        start, end = period(resource.get("period"))
        notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
        categories = concept_words(as_list(resource.get("category")))
        title = as_text(resource.get("title")) or categories or as_text(resource.get("description")) \
            or "Plan de soins"
        description = as_text(resource.get("description"))
        return CarePlanItem(
            title=title,
            category=categories, status=status_label(as_text(resource.get("status"))),
            start=start, end=end, goals=goals,
            activities=[a for a in (activity(reader, resource, e) for e in activities) if a],
            note=" ".join(n for n in [description if description != title else "", *notes] if n))

    plans = reader.each("CarePlan", read)
    plans.sort(key=lambda p: -reader.sort_key(p.start))
    alone = reader.each("Goal", lambda r: None if as_text(r.get("id")) in linked
                        or r.get("lifecycleStatus") in DROPPED_GOALS + ("completed",) else goal(r))
    for resource in reader.by_type.get("Goal", []):
        if as_text(resource.get("id")) in linked:
            reader.shown.add(id(resource))
            reader.unshown.pop(id(resource), None)
    if alone:
        plans.append(CarePlanItem("Objectifs de soins", "", "", None, None, alone))
    summary.chart.care_plans = plans
