"""Remote reporting: a worklist of FHIR ``Task`` resources (requested, claimed as in-progress, reported as
completed), one per indexed study, worked by reporters of any member trust; the report is a FHIR
``DiagnosticReport`` referencing the ``ImagingStudy``. Each listing, claim and report is one access of
the care record, decided by the one policy function with the study's trust as the record's holder, and
audited per patient in the same transaction.

Boundaries: writes Task and DiagnosticReport resources through the care record's resource writer;
no HTTP here. Not yet: the tariff table, the turnaround measures and their path to the warehouse.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from caremodels.care_record import resources as res
from caremodels.care_record.audit import AuditRecord, write_audit
from caremodels.care_record.policy import Access, Decision, Principal, decide, gather, load_agreements
from caremodels.care_record.registry import resource_type
from caremodels.care_record.resources import CareRecordError
from caremodels.care_record.store import imaging_studies, search_index
from caremodels.imaging.gateway import Gateway, StudyRow, _row

__all__ = ["Reporting", "open_tasks", "request_report"]

TASK_CODE = {"text": "report imaging study"}
OPEN = ("requested", "in-progress")


def _type(name: str) -> Any:
    rt = resource_type(name)
    if rt is None:  # pragma: no cover - the care record registers both
        raise CareRecordError(f"the care record does not hold {name}", status=500)
    return rt


def request_report(conn: Connection, row: StudyRow, moment: str) -> str:
    """The worklist Task for a newly indexed study (status requested, no owner yet)."""
    task_id = res.new_id()
    body = res.validate(
        _type("Task"),
        {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "code": TASK_CODE,
            "for": {"reference": f"Patient/{row.patient_id}"},
            "focus": {"reference": f"ImagingStudy/{row.imaging_study_id}"},
            "authoredOn": moment,
            "lastModified": moment,
        },
    )
    res.write_resource(
        conn,
        _type("Task"),
        body,
        resource_id=task_id,
        patient_id=row.patient_id,
        moment=moment,
        expected_version=None,
    )
    return task_id


class Reporting:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.service = gateway.service

    def _study_of(self, conn: Connection, task: dict[str, Any]) -> StudyRow:
        focus = str((task.get("focus") or {}).get("reference", "")).removeprefix("ImagingStudy/")
        found = conn.execute(
            sa.select(imaging_studies).where(imaging_studies.c.imaging_study_id == focus)
        ).first()
        if found is None:
            raise CareRecordError("the task's study is not in the index", status=409, code="conflict")
        return _row(found)

    def _decide(
        self,
        conn: Connection,
        principal: Principal,
        interaction: Any,
        type_name: str,
        row: StudyRow,
        moment: str,
    ) -> Decision:
        facts = gather(conn, principal, [row.patient_id], moment).get(row.patient_id)
        return decide(
            Access(principal, interaction, type_name, facts, load_agreements(conn, moment[:10]), row.trust)
        )

    def worklist(self, principal: Principal, limit: int = 100) -> list[dict[str, Any]]:
        """Open tasks the user may work, oldest first; audited once per patient shown."""
        record = AuditRecord("search-type", "Task", query="worklist")

        def body(conn: Connection, moment: str) -> list[dict[str, Any]]:
            ids = list(
                conn.execute(
                    sa.select(search_index.c.resource_id)
                    .where(
                        search_index.c.resource_type == "Task",
                        search_index.c.param == "status",
                        search_index.c.value.in_(OPEN),
                    )
                    .order_by(search_index.c.resource_id)
                ).scalars()
            )
            tasks = sorted(res.contents(conn, "Task", ids), key=lambda t: (t.get("authoredOn", ""), t["id"]))
            shown: list[dict[str, Any]] = []
            decisions: dict[str, Decision] = {}
            for task in tasks:
                row = self._study_of(conn, task)
                decision = self._decide(conn, principal, "search", "Task", row, moment)
                if decision.allowed:
                    shown.append(
                        {
                            "task": task,
                            "study_uid": row.study_uid,
                            "modality": row.modality,
                            "trust": row.trust,
                        }
                    )
                    decisions.setdefault(row.patient_id, decision)
                if len(shown) >= limit:
                    break
            if not decisions:
                base = decide(Access(principal, "search", "Task"))
                if not base.allowed:
                    self.service.refuse(principal, record, base, [None])
            for patient_id, decision in decisions.items():
                write_audit(
                    conn,
                    principal=principal,
                    record=record,
                    decision=decision,
                    patient_ids=[patient_id],
                    recorded=moment,
                )
            if not decisions:
                write_audit(
                    conn,
                    principal=principal,
                    record=record,
                    decision=Decision(True, "no match", basis="role"),
                    patient_ids=[],
                    recorded=moment,
                )
            return shown

        return self.service.access(body)

    def _change(self, principal: Principal, task_id: str, what: str, change: Any) -> dict[str, Any]:
        record = AuditRecord("update", "Task", task_id, description=what)

        def body(conn: Connection, moment: str) -> dict[str, Any]:
            stored = res.read_resource(conn, "Task", task_id)
            if stored is None or stored.content.get("code") != TASK_CODE:
                raise CareRecordError("no reporting task has that id", status=404, code="not-found")
            row = self._study_of(conn, stored.content)
            decision = self._decide(conn, principal, "update", "Task", row, moment)
            if not decision.allowed:
                self.service.refuse(principal, record, decision, [row.patient_id])
            task = change(conn, moment, dict(stored.content), row)
            task["lastModified"] = moment
            task = res.validate(_type("Task"), {k: v for k, v in task.items() if k not in ("id", "meta")})
            written = res.write_resource(
                conn,
                _type("Task"),
                task,
                resource_id=task_id,
                patient_id=row.patient_id,
                moment=moment,
                expected_version=stored.version_id,
            )
            write_audit(
                conn,
                principal=principal,
                record=record,
                decision=decision,
                patient_ids=[row.patient_id],
                recorded=moment,
            )
            return written.content

        return self.service.access(body)

    def claim(self, principal: Principal, task_id: str) -> dict[str, Any]:
        def change(conn: Connection, moment: str, task: dict[str, Any], row: StudyRow) -> dict[str, Any]:
            del conn, moment, row
            if task.get("status") != "requested":
                raise CareRecordError(
                    f"the task is {task.get('status')}, not requested", status=409, code="conflict"
                )
            task["status"] = "in-progress"
            task["owner"] = {
                "identifier": {
                    "system": "https://fhir.nhs.uk/Id/sds-user-id",
                    "value": principal.sds_user_id,
                },
                "display": principal.name,
            }
            return task

        return self._change(principal, task_id, "claim", change)

    def report(self, principal: Principal, task_id: str, conclusion: str) -> dict[str, Any]:
        conclusion = conclusion.strip()
        if len(conclusion) < 5:
            raise res.Invalid("a report needs a conclusion")

        def change(conn: Connection, moment: str, task: dict[str, Any], row: StudyRow) -> dict[str, Any]:
            owner = ((task.get("owner") or {}).get("identifier") or {}).get("value")
            if task.get("status") != "in-progress" or owner != principal.sds_user_id:
                raise CareRecordError(
                    "only the reporter who claimed the task may report it", status=409, code="conflict"
                )
            decision = self._decide(conn, principal, "create", "DiagnosticReport", row, moment)
            if not decision.allowed:
                raise CareRecordError(decision.reason, status=403, code="forbidden")
            report_id = res.new_id()
            report = res.validate(
                _type("DiagnosticReport"),
                {
                    "resourceType": "DiagnosticReport",
                    "status": "final",
                    "code": {"text": f"{row.modality} report"},
                    "subject": {"reference": f"Patient/{row.patient_id}"},
                    "effectiveDateTime": row.study_date or moment[:10],
                    "issued": moment,
                    "imagingStudy": [{"reference": f"ImagingStudy/{row.imaging_study_id}"}],
                    "resultsInterpreter": [{"display": principal.name}],
                    "conclusion": conclusion,
                },
            )
            res.write_resource(
                conn,
                _type("DiagnosticReport"),
                report,
                resource_id=report_id,
                patient_id=row.patient_id,
                moment=moment,
                expected_version=None,
            )
            task["status"] = "completed"
            task["output"] = [
                {"type": {"text": "report"}, "valueReference": {"reference": f"DiagnosticReport/{report_id}"}}
            ]
            return task

        return self._change(principal, task_id, "report", change)


def open_tasks(conn: Connection) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(search_index)
            .where(
                search_index.c.resource_type == "Task",
                search_index.c.param == "status",
                search_index.c.value.in_(OPEN),
            )
        ).scalar()
        or 0
    )
