"""FHIR R4 export of a cohort (issue 17): one Bundle of type collection.

Built from the same rows as the research CSV files (jobs/research.py `build`), so both agree:

* a Patient per member: the study id as identifier, a name only with --with-names;
* an Observation per daily pain rating: LOINC 72514-3 "Pain severity - 0-10 verbal numeric
  rating [Score] - Reported", valueInteger, effectiveDateTime (when it was given, UTC);
* a Questionnaire each for the PEG, the weekly global rating of change and the personal goals;
* a QuestionnaireResponse per set with at least one answer (skipped items are left out; the
  set's timepoint is a meta tag).

Validation: `fhir.resources` (8.x, pydantic 2) models FHIR R4 in its `fhir.resources.R4B`
package (4.3.0, which keeps R4's shape for these five resources; 6.x had 4.0.1 but needs
pydantic 1). `bundle_json` validates the Bundle before it is written.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Protocol

from bot.clock import iso
from bot.rules.outcomes import GOAL_WORDING, GRC_KEYS, GRC_WORDS, PEG_ITEMS, PEG_WORDING


class Member(Protocol):
    """One member's rows (jobs.research.Member; not imported: jobs.research imports this)."""

    study_id: str
    first_name: str
    ratings: list[dict]
    sets: list[dict]
    answers: dict[int, list[dict]]


class Export(Protocol):
    """The export's rows (jobs.research.Export)."""

    cohort_id: int
    with_names: bool
    made_at: Any
    members: Any


LOINC = "http://loinc.org"
PAIN_CODE = "72514-3"
PAIN_DISPLAY = "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
BASE = "urn:backpain-bot"
STUDY_SYSTEM = f"{BASE}:study-id"
GRC_SYSTEM = f"{BASE}:grc"
TIMEPOINT_SYSTEM = f"{BASE}:timepoint"
SET_SYSTEM = f"{BASE}:outcome-set"
QUESTIONNAIRE_URL = {
    "peg": "http://backpain-bot.invalid/fhir/Questionnaire/peg",
    "grc": "http://backpain-bot.invalid/fhir/Questionnaire/grc",
    "goals": "http://backpain-bot.invalid/fhir/Questionnaire/goals",
}
GRC_TEXT = "Compared with when you started, how is your back now?"
_NS = uuid.UUID("6f1c1d2e-5b1a-4f59-9a77-0c3c5e0b9a10")


def _urn(*parts: object) -> str:
    return "urn:uuid:" + str(uuid.uuid5(_NS, ":".join(str(p) for p in parts)))


def questionnaires() -> list[dict[str, Any]]:
    """The three Questionnaires (PEG, global rating of change, personal goals)."""
    peg = {
        "resourceType": "Questionnaire",
        "id": "peg",
        "url": QUESTIONNAIRE_URL["peg"],
        "name": "PEG",
        "title": "PEG: pain, enjoyment of life, general activity (Krebs et al. 2009)",
        "status": "active",
        "item": [
            {"linkId": item, "text": PEG_WORDING[item], "type": "integer"} for item in PEG_ITEMS
        ],
    }
    grc = {
        "resourceType": "Questionnaire",
        "id": "grc",
        "url": QUESTIONNAIRE_URL["grc"],
        "name": "GlobalRatingOfChange",
        "title": "Weekly global rating of change (7 points)",
        "status": "active",
        "item": [
            {
                "linkId": "grc",
                "text": GRC_TEXT,
                "type": "choice",
                "answerOption": [
                    {"valueCoding": {"system": GRC_SYSTEM, "code": str(v), "display": words}}
                    for v, words in sorted(GRC_WORDS.items(), reverse=True)
                ],
            }
        ],
    }
    goals = {
        "resourceType": "Questionnaire",
        "id": "goals",
        "url": QUESTIONNAIRE_URL["goals"],
        "name": "PersonalGoals",
        "title": "Personal goals: activities hard because of the back, rated 0-10",
        "status": "active",
        "item": [
            {
                "linkId": "goal",
                "text": "An activity you find hard because of your back",
                "type": "group",
                "repeats": True,
                "item": [
                    {"linkId": "goal_name", "text": "The activity", "type": "string"},
                    {"linkId": "goal_rating", "text": GOAL_WORDING, "type": "integer"},
                ],
            }
        ],
    }
    return [peg, grc, goals]


def patient(export: Export, member: Member) -> dict[str, Any]:
    found: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": STUDY_SYSTEM, "value": member.study_id}],
    }
    if export.with_names and member.first_name:
        found["name"] = [{"given": [member.first_name]}]
    return found


def observation(member: Member, rating: dict, subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": PAIN_CODE, "display": PAIN_DISPLAY}]},
        "subject": {"reference": subject},
        "effectiveDateTime": rating["answered_at"] or rating["local_date"],
        "valueInteger": rating["pain"],
    }


def _answer_item(instrument: str, answer: dict) -> dict[str, Any]:
    if instrument == "grc":
        value = answer["value"]
        coding = {"system": GRC_SYSTEM, "code": str(value), "display": GRC_WORDS[value]}
        return {"linkId": "grc", "text": GRC_TEXT, "answer": [{"valueCoding": coding}]}
    if instrument == "goals":
        return {
            "linkId": "goal",
            "item": [
                {"linkId": "goal_name", "answer": [{"valueString": answer["goal_name"] or ""}]},
                {"linkId": "goal_rating", "answer": [{"valueInteger": answer["value"]}]},
            ],
        }
    return {"linkId": answer["item"], "answer": [{"valueInteger": answer["value"]}]}


RESPONSE_STATUS = {"complete": "completed", "open": "in-progress"}  # else: stopped


def response(member: Member, found: dict, subject: str) -> dict[str, Any] | None:
    """The set's QuestionnaireResponse; None when nothing in it was answered."""
    given = [a for a in member.answers.get(found["id"], []) if not a["skipped"]]
    given = [a for a in given if a["value"] is not None]
    if not given or found["instrument"] not in QUESTIONNAIRE_URL:
        return None
    if found["instrument"] == "grc":
        given = [a for a in given if a["value"] in GRC_KEYS]
    return {
        "resourceType": "QuestionnaireResponse",
        "meta": {"tag": [{"system": TIMEPOINT_SYSTEM, "code": found["timepoint"]}]},
        "identifier": {"system": SET_SYSTEM, "value": str(found["id"])},
        "questionnaire": QUESTIONNAIRE_URL[found["instrument"]],
        "status": RESPONSE_STATUS.get(found["status"], "stopped"),
        "subject": {"reference": subject},
        "authored": max(a["answered_at"] for a in given),
        "item": [_answer_item(found["instrument"], a) for a in given],
    }


def bundle(export: Export) -> dict[str, Any]:
    """The whole Bundle (type collection) as plain JSON-ready data."""
    entries: list[dict[str, Any]] = []

    def add(url: str, resource: dict[str, Any]) -> None:
        entries.append({"fullUrl": url, "resource": resource})

    for q in questionnaires():
        add(q["url"], q)
    for member in export.members:
        subject = _urn(export.cohort_id, "patient", member.study_id)
        add(subject, patient(export, member))
        for rating in member.ratings:
            obs = observation(member, rating, subject)
            add(_urn(export.cohort_id, "pain", member.study_id, rating["local_date"]), obs)
        for found in member.sets:
            made = response(member, found, subject)
            if made is not None:
                add(_urn(export.cohort_id, "set", found["id"]), made)
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": iso(export.made_at),
        "entry": entries,
    }


def validate(data: dict[str, Any]) -> None:
    """Raise (pydantic's ValidationError) unless `data` is a valid FHIR resource."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(data["resourceType"]).model_validate(data)


def bundle_json(export: Export) -> bytes:
    """The Bundle, validated, as indented UTF-8 JSON."""
    data = bundle(export)
    validate(data)
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
