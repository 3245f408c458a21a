"""The advice and guidance service: make a request, take a step in its conversation, the GP's list
and the provider's worklist. Every read and every write goes through ``CareRecord`` (the one policy
function, the one audit writer); each step is one transaction Bundle, in which the write rules of
``caremodels.advice.workflow`` hold the state machine, so a refused step changes nothing and is audited.

Boundaries: builds FHIR resources and Bundles; no SQL, no HTTP. Errors are ``CareRecordError``\\ s
(OperationOutcomes at the API) and never quote a patient-level value.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from caremodels.advice import workflow as wf
from caremodels.care_record.policy import Principal
from caremodels.care_record.registry import ODS_SYSTEM
from caremodels.care_record.resources import CareRecordError, Invalid, now_text
from caremodels.care_record.service import CareRecord, NotFound
from caremodels.reference.fhir import TREATMENT_FUNCTION_SYSTEM

__all__ = ["RESPONSE_WORKING_DAYS", "AdviceService", "Attachment", "NewRequest"]

RESPONSE_WORKING_DAYS = 2
PRIORITIES = ("routine", "urgent")


@dataclass(frozen=True)
class Attachment:
    title: str
    content_type: str
    data: str  # base64, as FHIR Attachment.data


@dataclass(frozen=True)
class NewRequest:
    patient_id: str
    provider_code: str
    specialty: str
    question: str
    would_otherwise_refer: bool
    authorised_to_convert: bool
    priority: str = "routine"
    attachments: tuple[Attachment, ...] = field(default=())

    @classmethod
    def from_json(cls, body: Any) -> NewRequest:
        """From the API's JSON body, every field checked (the two answers are required, never defaulted)."""
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object")
        for name in ("patient", "provider", "specialty", "question"):
            if not isinstance(body.get(name), str) or not body[name].strip():
                raise Invalid(f"{name}: required (text)")
        for name in ("would_otherwise_refer", "authorised_to_convert"):
            if not isinstance(body.get(name), bool):
                raise Invalid(f"{name}: required, true or false (recorded when the request is made)")
        attachments = []
        for position, item in enumerate(body.get("attachments") or []):
            if not isinstance(item, dict) or not all(
                isinstance(item.get(key), str) for key in ("title", "content_type", "data")
            ):
                raise Invalid(f"attachments[{position}]: needs title, content_type and data (base64)")
            attachments.append(Attachment(item["title"], item["content_type"], item["data"]))
        return cls(
            patient_id=body["patient"].removeprefix("Patient/"),
            provider_code=body["provider"].strip().upper(),
            specialty=body["specialty"].strip(),
            question=body["question"].strip(),
            would_otherwise_refer=body["would_otherwise_refer"],
            authorised_to_convert=body["authorised_to_convert"],
            priority=str(body.get("priority", "routine")),
            attachments=tuple(attachments),
        )


def _today(moment: str) -> dt.date:
    return dt.date.fromisoformat(moment[:10])


class AdviceService:
    def __init__(self, record: CareRecord) -> None:
        wf.install()
        self.record = record
        self._organisations: dict[str, str] = {}

    def _now(self) -> str:
        return now_text(self.record.clock())

    def organisation(self, principal: Principal, code: str) -> str:
        """``Organization/<id>`` of an ODS code (a directory search, audited; remembered, as the
        directory does not move under a running service)."""
        if code not in self._organisations:
            bundle = self.record.search(principal, "Organization", [("identifier", f"{ODS_SYSTEM}|{code}")])
            if not bundle["entry"]:
                raise Invalid(f"no organisation with ODS code {code[:12]} in the directory")
            self._organisations[code] = f"Organization/{bundle['entry'][0]['resource']['id']}"
        return self._organisations[code]

    # -- making a request ---------------------------------------------------------------------------
    def request(self, principal: Principal, new: NewRequest) -> dict[str, Any]:
        if new.priority not in PRIORITIES:
            raise Invalid(f"priority must be one of {', '.join(PRIORITIES)}")
        if not (len(new.specialty) == 3 and new.specialty.isdigit()):
            raise Invalid("specialty must be a treatment function code (three digits)")
        practice = self.organisation(principal, principal.org_code)
        provider = self.organisation(principal, new.provider_code)
        moment = self._now()
        due = wf.add_working_days(_today(moment), RESPONSE_WORKING_DAYS)
        patient = {"reference": f"Patient/{new.patient_id}"}
        requester: dict[str, Any] = {"reference": practice}
        entries: list[dict[str, Any]] = []
        payload: list[dict[str, Any]] = [{"contentString": new.question}]
        for attachment in new.attachments:
            url = f"urn:uuid:{uuid.uuid4()}"
            entries.append(
                {
                    "fullUrl": url,
                    "resource": {
                        "resourceType": "DocumentReference",
                        "status": "current",
                        "subject": patient,
                        "date": moment,
                        "author": [requester],
                        "description": attachment.title,
                        "content": [
                            {
                                "attachment": {
                                    "contentType": attachment.content_type,
                                    "data": attachment.data,
                                    "title": attachment.title,
                                }
                            }
                        ],
                    },
                    "request": {"method": "POST", "url": "DocumentReference"},
                }
            )
            payload.append({"contentReference": {"reference": url, "display": attachment.title}})
        request_url = f"urn:uuid:{uuid.uuid4()}"
        entries.append(
            {
                "fullUrl": request_url,
                "resource": {
                    "resourceType": "CommunicationRequest",
                    "status": "active",
                    "priority": new.priority,
                    "category": [
                        {"coding": [{"system": wf.CATEGORY_SYSTEM, "code": wf.ADVICE_CODE}]},
                        {"coding": [{"system": TREATMENT_FUNCTION_SYSTEM, "code": new.specialty}]},
                    ],
                    "subject": patient,
                    "authoredOn": moment,
                    "requester": requester,
                    "recipient": [{"reference": provider}],
                    "payload": payload,
                    "extension": [
                        {"url": wf.EXT_INTENDED, "valueBoolean": new.would_otherwise_refer},
                        {"url": wf.EXT_AUTHORISED, "valueBoolean": new.authorised_to_convert},
                    ],
                },
                "request": {"method": "POST", "url": "CommunicationRequest"},
            }
        )
        entries.append(
            {
                "resource": {
                    "resourceType": "Task",
                    "status": wf.STATES[wf.AWAITING_PROVIDER],
                    "businessStatus": wf.state_concept(wf.AWAITING_PROVIDER),
                    "intent": "order",
                    "priority": new.priority,
                    "code": {"coding": [{"system": wf.CATEGORY_SYSTEM, "code": wf.ADVICE_CODE}]},
                    "focus": {"reference": request_url},
                    "for": patient,
                    "authoredOn": moment,
                    "requester": requester,
                    "owner": {"reference": provider},
                    "restriction": {"period": {"end": due.isoformat()}},
                },
                "request": {"method": "POST", "url": "Task"},
            }
        )
        result = self.record.transaction(
            principal, {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        )
        locations = [entry["response"]["location"] for entry in result["entry"]]
        request_id = locations[-2].split("/")[1]
        task_id = locations[-1].split("/")[1]
        return {"request": request_id, "task": task_id, "due": due.isoformat()}

    # -- one step of the conversation ---------------------------------------------------------------
    def _current(self, principal: Principal, request_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        request = self.record.read(principal, "CommunicationRequest", request_id)
        if not wf.is_advice_request(request):
            raise NotFound(f"CommunicationRequest/{request_id[:64]} is not an advice and guidance request")
        tasks = self.record.search(principal, "Task", [("focus", f"CommunicationRequest/{request_id}")])
        if not tasks["entry"]:
            raise NotFound("the request has no provider Task")
        return request, tasks["entry"][0]["resource"]

    def step(
        self, principal: Principal, request_id: str, event_name: str, message: str = ""
    ) -> dict[str, Any]:
        """Take one step (``workflow.EVENTS``); refused with 409 when illegal from the current state."""
        request, task = self._current(principal, request_id)
        event = wf.transition(wf.state_of(task), event_name)
        message = message.strip()
        if event.name != "withdraw" and not message:
            raise Invalid(f"{event.name}: a message to the other party is required")
        party = principal.org_code
        sender = self.organisation(principal, party)
        moment = self._now()
        entries: list[dict[str, Any]] = []
        patient = request["subject"]
        if message:
            entries.append(
                {
                    "resource": {
                        "resourceType": "Communication",
                        "status": "completed",
                        "basedOn": [{"reference": f"CommunicationRequest/{request_id}"}],
                        "subject": patient,
                        "sent": moment,
                        "sender": {"reference": sender},
                        "recipient": [
                            request["requester"] if event.actor == "provider" else request["recipient"][0]
                        ],
                        "payload": [{"contentString": message}],
                        "category": [{"coding": [{"system": wf.CATEGORY_SYSTEM, "code": event.name}]}],
                    },
                    "request": {"method": "POST", "url": "Communication"},
                }
            )
        if event.name == "convert":
            entries.append(
                {
                    "resource": {
                        "resourceType": "ServiceRequest",
                        "status": "active",
                        "intent": "order",
                        "priority": request.get("priority", "routine"),
                        "basedOn": [{"reference": f"CommunicationRequest/{request_id}"}],
                        "category": [c for c in request["category"] if wf.ADVICE_CODE not in str(c)],
                        "subject": patient,
                        "authoredOn": moment,
                        "requester": request["requester"],
                        "performer": request["recipient"],
                    },
                    "request": {"method": "POST", "url": "ServiceRequest"},
                }
            )
        updated = {k: v for k, v in task.items() if k != "meta"}
        updated["status"] = wf.STATES[event.target]
        updated["businessStatus"] = wf.state_concept(event.target)
        period = dict(updated.get("executionPeriod") or {})
        if event.actor == "provider":
            # The first response of the provider starts the clock's stop: e-RS's response time.
            period.setdefault("start", moment)
        if event.target in wf.TERMINAL:
            period["end"] = moment
        if period:
            updated["executionPeriod"] = period
        entries.append(
            {
                "resource": updated,
                "request": {
                    "method": "PUT",
                    "url": f"Task/{task['id']}",
                    "ifMatch": f'W/"{task["meta"]["versionId"]}"',
                },
            }
        )
        if event.target in wf.TERMINAL:
            closed = {k: v for k, v in request.items() if k != "meta"}
            closed["status"] = "revoked" if event.target == wf.WITHDRAWN else "completed"
            entries.append(
                {
                    "resource": closed,
                    "request": {
                        "method": "PUT",
                        "url": f"CommunicationRequest/{request_id}",
                        "ifMatch": f'W/"{request["meta"]["versionId"]}"',
                    },
                }
            )
        self.record.transaction(
            principal, {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        )
        return {"request": request_id, "state": event.target}

    # -- lists ----------------------------------------------------------------------------------------
    def my_requests(self, principal: Principal, count: int = 20) -> list[dict[str, Any]]:
        """The requests the user's practice made, newest first, each with its Task's state."""
        practice = self.organisation(principal, principal.org_code)
        bundle = self.record.search(
            principal,
            "CommunicationRequest",
            [
                ("requester", practice),
                ("category", f"{wf.CATEGORY_SYSTEM}|{wf.ADVICE_CODE}"),
                ("_count", str(count)),
            ],
        )
        requests = [entry["resource"] for entry in bundle["entry"]]
        return self._with_tasks(principal, requests)

    def worklist(self, principal: Principal, count: int = 20) -> list[dict[str, Any]]:
        """The provider's open requests (awaiting it or the GP), a page of ``count`` (each listed request
        is an audited access to its patient's record: one AuditEvent per patient, twice, for the Tasks
        and their requests), soonest due first within the page."""
        provider = self.organisation(principal, principal.org_code)
        bundle = self.record.search(
            principal,
            "Task",
            [
                ("owner", provider),
                ("code", f"{wf.CATEGORY_SYSTEM}|{wf.ADVICE_CODE}"),
                ("status", "requested,on-hold"),
                ("_count", str(count)),
            ],
        )
        tasks = [entry["resource"] for entry in bundle["entry"]]
        if not tasks:
            return []
        ids = [task["focus"]["reference"].removeprefix("CommunicationRequest/") for task in tasks]
        requests = {
            entry["resource"]["id"]: entry["resource"]
            for entry in self.record.search(
                principal, "CommunicationRequest", [("_id", ",".join(ids)), ("_count", str(count))]
            )["entry"]
        }
        rows = [self._row(requests[i], task) for i, task in zip(ids, tasks, strict=True) if i in requests]
        return sorted(rows, key=lambda row: (row["due"], row["authored"]))

    def _with_tasks(self, principal: Principal, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not requests:
            return []
        focus = ",".join(f"CommunicationRequest/{request['id']}" for request in requests)
        tasks = {
            entry["resource"]["focus"]["reference"].removeprefix("CommunicationRequest/"): entry["resource"]
            for entry in self.record.search(principal, "Task", [("focus", focus), ("_count", "100")])["entry"]
        }
        rows = [self._row(request, tasks.get(request["id"])) for request in requests]
        return sorted(rows, key=lambda row: row["authored"], reverse=True)

    @staticmethod
    def _row(request: dict[str, Any], task: dict[str, Any] | None) -> dict[str, Any]:
        state = wf.state_of(task) if task else ""
        question = next(
            (p.get("contentString") for p in request.get("payload") or [] if "contentString" in p), ""
        )
        return {
            "id": request["id"],
            "patient": request["subject"]["reference"].removeprefix("Patient/"),
            "specialty": wf.specialty_of(request) or "",
            "priority": request.get("priority", "routine"),
            "question": question,
            "authored": request.get("authoredOn", ""),
            "due": ((task or {}).get("restriction") or {}).get("period", {}).get("end", ""),
            "state": state,
            "state_name": wf.STATE_NAMES.get(state, state),
            "would_otherwise_refer": wf.flag(request, wf.EXT_INTENDED),
            "authorised_to_convert": wf.flag(request, wf.EXT_AUTHORISED),
            "steps": [name for name, event in wf.EVENTS.items() if state in event.sources],
        }

    def conversation(self, principal: Principal, request_id: str) -> dict[str, Any]:
        """The request, its Task, its Communications in order, its attachments and any referral."""
        request, task = self._current(principal, request_id)
        based = f"CommunicationRequest/{request_id}"
        messages = [
            entry["resource"]
            for entry in self.record.search(
                principal, "Communication", [("based-on", based), ("_count", "100")]
            )["entry"]
        ]
        messages.sort(key=lambda item: item.get("sent", ""))
        referrals = [
            entry["resource"]
            for entry in self.record.search(principal, "ServiceRequest", [("based-on", based)])["entry"]
        ]
        documents = [
            payload["contentReference"]["reference"].removeprefix("DocumentReference/")
            for payload in request.get("payload") or []
            if "contentReference" in payload
        ]
        attachments = (
            [
                entry["resource"]
                for entry in self.record.search(
                    principal, "DocumentReference", [("_id", ",".join(documents))]
                )["entry"]
            ]
            if documents
            else []
        )
        summary = self._row(request, task)
        mine = self.organisation(principal, principal.org_code)
        party = (
            "provider"
            if mine in [item.get("reference") for item in request.get("recipient") or []]
            else "requester"
            if mine == (request.get("requester") or {}).get("reference")
            else None
        )
        # The steps this user's side may take (the write rules refuse the other side's anyway).
        summary["steps"] = [name for name in summary["steps"] if wf.EVENTS[name].actor == party]
        summary["party"] = party
        return {
            "summary": summary,
            "request": request,
            "task": task,
            "communications": messages,
            "attachments": attachments,
            "referrals": referrals,
        }


def check_event_name(name: str) -> str:
    if name not in wf.EVENTS:
        raise CareRecordError(f"no advice and guidance step {name[:40]!r}", status=404, code="not-found")
    return name
