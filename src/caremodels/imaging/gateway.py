"""The consortium's DICOMweb gateway: QIDO-RS answered from the study index (with fan-out to the owning
archives for series and instances), WADO-RS (metadata, frames, rendered, whole studies) and STOW-RS
routed to the owning archive, and the archives' states (connected / isolated / assured).

Every request is one access of the care record (``CareRecord.access``): the index rows it touches are
read, the care record's one policy function ``decide`` is called for each study (the study's trust is
the record's ``holder``, so a consortium-wide agreement that joins the user's trust to the holding
trust shares it), and the AuditEvents are written, one per patient, in the same transaction; a refusal
is rolled back and audited on its own. Only then is the archive asked, so that no lock is held while
images move.

Resilience: an archive that fails or times out (each has its own timeout) is isolated at once and the
outage logged; answers carry the others' results and a ``Warning`` naming what is missing. An isolated
archive is not asked again until a privacy officer or an administrator marks it assured; the next
request then checks its health and reconnects it (or isolates it again).

Boundaries: no HTTP framework here (``caremodels.imaging.api`` translates); errors are
``CareRecordError`` with the status to answer with, never quoting a patient-level value.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from caremodels.care_record import resources as res
from caremodels.care_record.audit import AuditRecord, write_audit
from caremodels.care_record.policy import Access, Decision, Principal, decide, gather, load_agreements
from caremodels.care_record.registry import NHS_NUMBER_SYSTEM, resource_type
from caremodels.care_record.resources import CareRecordError
from caremodels.care_record.service import CareRecord
from caremodels.care_record.store import (
    imaging_archives,
    imaging_outages,
    imaging_studies,
    resources,
    search_index,
)
from caremodels.imaging.archive import Archive, ArchiveError, ArchiveUnavailable, InstanceInfo, SeriesInfo
from caremodels.imaging.consortium import ASSURED, CONNECTED, ISOLATED, endpoint_id, register_archive
from caremodels.imaging.dicom import DicomError, IndexFields, index_fields, parse_instance

__all__ = ["Gateway", "Missing", "Partial", "StudyRow"]

T = TypeVar("T")
DICOM_UID_SYSTEM = "urn:dicom:uid"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
STUDY_FILTERS = ("PatientID", "StudyInstanceUID", "AccessionNumber", "StudyDate", "ModalitiesInStudy")
PAGING = ("limit", "offset", "includefield", "fuzzymatching")
MAX_LIMIT = 500
HEALTH_CACHE_SECONDS = 1.0


class Unavailable(CareRecordError):
    status = 503
    code = "transient"


@dataclass(frozen=True)
class StudyRow:
    study_uid: str
    patient_id: str
    trust: str
    archive: str
    modality: str
    study_date: str | None
    accession: str | None
    instances: int
    imaging_study_id: str


@dataclass(frozen=True)
class Missing:
    archive: str
    state: str
    studies: int
    reason: str

    def warning(self) -> str:
        # RFC 7234 Warning, as DICOMweb uses it for partial answers: code 299, agent, quoted text.
        return f'299 caremodels "archive {self.archive} is {self.state}: {self.studies} studies not available ({self.reason})"'


Item = TypeVar("Item")


@dataclass
class Partial(Generic[Item]):
    """An answer that may be missing one or more archives' part."""

    items: list[Item]
    missing: list[Missing] = field(default_factory=list)


def _row(row: Any) -> StudyRow:
    return StudyRow(
        row.study_uid,
        row.patient_id,
        row.trust,
        row.archive,
        row.modality,
        row.study_date,
        row.accession,
        int(row.instances),
        row.imaging_study_id,
    )


def _dicom_date(value: str) -> str:
    """YYYYMMDD (or YYYY-MM-DD) to the ISO day the index keeps."""
    digits = value.replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        raise CareRecordError("StudyDate is YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"


def study_json(row: StudyRow, nhs_number: str, base_url: str) -> dict[str, Any]:
    """The QIDO-RS study attributes the index can answer, in the DICOM JSON model."""

    def attr(vr: str, value: Any) -> dict[str, Any]:
        return {"vr": vr, "Value": [value]} if value not in (None, "") else {"vr": vr}

    return {
        "00080020": attr("DA", (row.study_date or "").replace("-", "")),
        "00080050": attr("SH", row.accession),
        "00080061": attr("CS", row.modality),
        "00080080": attr("LO", row.trust),
        "00081190": attr("UR", f"{base_url}/dicomweb/studies/{row.study_uid}"),
        "00100020": attr("LO", nhs_number),
        "0020000D": attr("UI", row.study_uid),
        "00201208": attr("IS", row.instances),
    }


def series_json(study_uid: str, info: SeriesInfo, base_url: str) -> dict[str, Any]:
    return {
        "0020000D": {"vr": "UI", "Value": [study_uid]},
        "0020000E": {"vr": "UI", "Value": [info.uid]},
        "00080060": {"vr": "CS", "Value": [info.modality]} if info.modality else {"vr": "CS"},
        "00200011": {"vr": "IS", "Value": [info.number]} if info.number is not None else {"vr": "IS"},
        "00201209": {"vr": "IS", "Value": [info.instances]},
        "00081190": {"vr": "UR", "Value": [f"{base_url}/dicomweb/studies/{study_uid}/series/{info.uid}"]},
    }


def instance_json(study_uid: str, series_uid: str, info: InstanceInfo) -> dict[str, Any]:
    return {
        "0020000D": {"vr": "UI", "Value": [study_uid]},
        "0020000E": {"vr": "UI", "Value": [series_uid]},
        "00080018": {"vr": "UI", "Value": [info.uid]},
        "00080016": {"vr": "UI", "Value": [info.sop_class]},
        "00200013": {"vr": "IS", "Value": [info.number]} if info.number is not None else {"vr": "IS"},
        "00280010": {"vr": "US", "Value": [info.rows]},
        "00280011": {"vr": "US", "Value": [info.columns]},
        "00280008": {"vr": "IS", "Value": [info.frames]},
    }


class Gateway:
    def __init__(
        self,
        service: CareRecord,
        archives: Mapping[str, Archive],
        trusts: Mapping[str, str] | None = None,
        *,
        base_url: str = "",
    ) -> None:
        """``archives`` by name; ``trusts`` maps an archive to the trust that holds it (its name when
        not given, one archive per trust)."""
        self.service = service
        self.archives = dict(archives)
        self.trusts = {name: (trusts or {}).get(name, name) for name in self.archives}
        self.base_url = base_url
        self._pool = ThreadPoolExecutor(max_workers=max(4, 2 * len(self.archives)))
        self._health: dict[str, tuple[float, bool]] = {}
        self._states: tuple[float, dict[str, str]] | None = None
        self._lock = threading.Lock()
        with service.store.begin() as conn:
            for name, trust in self.trusts.items():
                register_archive(
                    conn, name=name, trust=trust, address=f"{base_url}/dicomweb", moment=self._now()
                )

    def _now(self) -> str:
        return res.now_text(self.service.clock())

    # -- the policy and audit frame ------------------------------------------------------------------
    def _allowed(
        self,
        conn: Connection,
        principal: Principal,
        interaction: Any,
        rows: Sequence[StudyRow],
        moment: str,
    ) -> tuple[list[StudyRow], dict[str, Decision]]:
        """The rows the policy lets this user see, and one decision per patient (the first allowed)."""
        facts = gather(conn, principal, [row.patient_id for row in rows], moment)
        agreements = load_agreements(conn, moment[:10])
        allowed: list[StudyRow] = []
        decisions: dict[str, Decision] = {}
        refusals: dict[str, Decision] = {}
        for row in rows:
            decision = decide(
                Access(
                    principal, interaction, "ImagingStudy", facts.get(row.patient_id), agreements, row.trust
                )
            )
            if decision.allowed:
                allowed.append(row)
                decisions.setdefault(row.patient_id, decision)
            else:
                refusals.setdefault(row.patient_id, decision)
        return allowed, decisions | {p: d for p, d in refusals.items() if p not in decisions}

    def _audit(
        self,
        conn: Connection,
        principal: Principal,
        record: AuditRecord,
        decisions: Mapping[str, Decision],
        moment: str,
    ) -> None:
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

    def _role_check(self, principal: Principal, interaction: Any, record: AuditRecord) -> None:
        base = decide(Access(principal, interaction, "ImagingStudy", None, ()))
        if not base.allowed:
            self.service.access(lambda _c, _m: self.service.refuse(principal, record, base, [None]))

    def _one_study(self, principal: Principal, study_uid: str, record: AuditRecord) -> StudyRow:
        """One indexed study, if this user may open it (decided and audited); else refused or 404."""
        self._role_check(principal, "read", record)

        def body(conn: Connection, moment: str) -> StudyRow | None:
            found = conn.execute(
                sa.select(imaging_studies).where(imaging_studies.c.study_uid == study_uid)
            ).first()
            if found is None:
                write_audit(
                    conn,
                    principal=principal,
                    record=record,
                    decision=Decision(False, "not found"),
                    patient_ids=[],
                    recorded=moment,
                )
                return None
            row = _row(found)
            allowed, decisions = self._allowed(conn, principal, "read", [row], moment)
            if not allowed:
                self.service.refuse(principal, record, decisions[row.patient_id], [row.patient_id])
            self._audit(conn, principal, record, decisions, moment)
            return row

        row = self.service.access(body)
        if row is None:
            raise CareRecordError("no indexed study has that UID", status=404, code="not-found")
        return row

    # -- archive states ------------------------------------------------------------------------------
    def states(self) -> dict[str, dict[str, Any]]:
        with self.service.store.begin() as conn:
            return {row.name: dict(row._mapping) for row in conn.execute(sa.select(imaging_archives))}

    def _current_states(self) -> dict[str, str]:
        """The archives' states, read from the store at most once a second (this gateway's own changes
        clear it at once), so that a request does not open a second transaction to learn them."""
        now = time.monotonic()
        with self._lock:
            if self._states is not None and now - self._states[0] < HEALTH_CACHE_SECONDS:
                return self._states[1]
        states = {name: str(info["state"]) for name, info in self.states().items()}
        with self._lock:
            self._states = (time.monotonic(), states)
        return states

    def _forget_states(self) -> None:
        with self._lock:
            self._states = None

    def outages(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.service.store.begin() as conn:
            rows = conn.execute(
                sa.select(imaging_outages).order_by(imaging_outages.c.started.desc()).limit(limit)
            )
            return [dict(row._mapping) for row in rows]

    def isolate(self, name: str, reason: str, principal: Principal | None = None) -> None:
        """Take an archive out of the record (an outage seen by the gateway, or an incident declared)."""
        moment = self._now()
        with self.service.store.begin() as conn:
            state = conn.execute(
                sa.select(imaging_archives.c.state).where(imaging_archives.c.name == name).with_for_update()
            ).scalar()
            if state is None:
                raise CareRecordError(f"no archive {name}", status=404, code="not-found")
            if state == ISOLATED:
                return
            conn.execute(
                imaging_archives.update()
                .where(imaging_archives.c.name == name)
                .values(
                    state=ISOLATED,
                    changed=moment,
                    changed_by=principal.user_id if principal else None,
                    reason=reason,
                )
            )
            open_outage = conn.execute(
                sa.select(imaging_outages.c.id).where(
                    imaging_outages.c.archive == name, imaging_outages.c.ended.is_(None)
                )
            ).first()
            if open_outage is None:
                conn.execute(
                    imaging_outages.insert().values(
                        id=str(uuid.uuid4()), archive=name, started=moment, reason=reason
                    )
                )
            else:
                # Assured but still failing: the outage goes on and needs assuring again.
                conn.execute(
                    imaging_outages.update()
                    .where(imaging_outages.c.id == open_outage.id)
                    .values(assured=None, assured_by=None)
                )
            write_audit(
                conn,
                principal=principal,
                record=AuditRecord(
                    "update", "Endpoint", endpoint_id(name), description=f"isolated: {reason}"
                ),
                decision=Decision(True, "archive isolated", basis="resilience"),
                patient_ids=[],
                recorded=moment,
            )
        with self._lock:
            self._health.pop(name, None)
        self._forget_states()

    def _governance(self, principal: Principal, record: AuditRecord, what: str) -> Decision:
        """Changing an archive's state is directory management (an administrator) or information
        governance (a privacy officer or Caldicott guardian), as the one policy grants them."""
        as_admin = decide(Access(principal, "update", "Endpoint"))
        decision = as_admin if as_admin.allowed else decide(Access(principal, "search", "AuditEvent"))
        if not decision.allowed:
            self.service.access(
                lambda _c, _m: self.service.refuse(
                    principal,
                    record,
                    Decision(False, f"only a privacy officer or an administrator may {what} an archive"),
                    [None],
                )
            )
        return decision

    def declare_incident(self, principal: Principal, name: str, reason: str) -> None:
        """A privacy officer or administrator takes an archive out of the record (an incident, as the
        2017 malware attack): isolated until assured, as after a failure."""
        record = AuditRecord("update", "Endpoint", endpoint_id(name), description="incident")
        self._governance(principal, record, "isolate")
        if len(reason.strip()) < 10:
            raise res.Invalid("declaring an incident needs a stated reason (at least ten characters)")
        self.isolate(name, f"incident: {reason.strip()}", principal)

    def assure(self, principal: Principal, name: str, reason: str) -> None:
        """A privacy officer or administrator assures an isolated archive: it may be reconnected."""
        record = AuditRecord("update", "Endpoint", endpoint_id(name), description="assured")
        decision = self._governance(principal, record, "assure")
        if len(reason.strip()) < 10:
            raise res.Invalid("assuring an archive needs a stated reason (at least ten characters)")

        def body(conn: Connection, moment: str) -> None:
            state = conn.execute(
                sa.select(imaging_archives.c.state).where(imaging_archives.c.name == name).with_for_update()
            ).scalar()
            if state is None:
                raise CareRecordError(f"no archive {name}", status=404, code="not-found")
            if state != ISOLATED:
                raise CareRecordError(f"archive {name} is {state}, not isolated", status=409, code="conflict")
            conn.execute(
                imaging_archives.update()
                .where(imaging_archives.c.name == name)
                .values(state=ASSURED, changed=moment, changed_by=principal.user_id, reason=reason.strip())
            )
            conn.execute(
                imaging_outages.update()
                .where(imaging_outages.c.archive == name, imaging_outages.c.ended.is_(None))
                .values(assured=moment, assured_by=principal.user_id)
            )
            write_audit(
                conn, principal=principal, record=record, decision=decision, patient_ids=[], recorded=moment
            )

        self.service.access(body)
        self._forget_states()

    def _healthy(self, name: str) -> bool:
        now = time.monotonic()
        with self._lock:
            cached = self._health.get(name)
        if cached and now - cached[0] < HEALTH_CACHE_SECONDS:
            return cached[1]
        ok = self.archives[name].health()
        with self._lock:
            self._health[name] = (time.monotonic(), ok)
        return ok

    def _usable(self, names: Iterable[str]) -> dict[str, str]:
        """The state each archive is in for this request, reconnecting assured ones that are healthy
        and isolating connected ones that are not."""
        wanted = sorted(set(names))
        states = {name: state for name, state in self._current_states().items() if name in wanted}
        checks = {
            name: self._pool.submit(self._healthy, name)
            for name in wanted
            if states.get(name) in (CONNECTED, ASSURED) and name in self.archives
        }
        for name, future in checks.items():
            try:
                ok = future.result(timeout=self.archives[name].timeout + 0.5)
            except FutureTimeout:
                ok = False
            if ok and states[name] == ASSURED:
                self._reconnect(name)
                states[name] = CONNECTED
            elif not ok:
                self.isolate(name, "health check failed")
                states[name] = ISOLATED
        return {name: states.get(name, "unknown") for name in wanted}

    def _reconnect(self, name: str) -> None:
        moment = self._now()
        with self.service.store.begin() as conn:
            conn.execute(
                imaging_archives.update()
                .where(imaging_archives.c.name == name, imaging_archives.c.state == ASSURED)
                .values(state=CONNECTED, changed=moment, reason="reconnected after assurance")
            )
            conn.execute(
                imaging_outages.update()
                .where(imaging_outages.c.archive == name, imaging_outages.c.ended.is_(None))
                .values(ended=moment)
            )
            write_audit(
                conn,
                principal=None,
                record=AuditRecord("update", "Endpoint", endpoint_id(name), description="reconnected"),
                decision=Decision(True, "archive reconnected after assurance", basis="resilience"),
                patient_ids=[],
                recorded=moment,
            )
        self._forget_states()

    def _call(self, row: StudyRow, call: Callable[[Archive], T]) -> T:
        """One archive call for one study, refusing when the archive is out of the record."""
        state = self._usable([row.archive])[row.archive]
        if state != CONNECTED:
            raise Unavailable(f"the archive holding this study ({row.archive}) is {state}: try again later")
        try:
            return call(self.archives[row.archive])
        except ArchiveUnavailable as error:
            self.isolate(row.archive, str(error))
            raise Unavailable(f"the archive holding this study ({row.archive}) is unavailable") from None
        except ArchiveError as error:
            raise CareRecordError(str(error), status=error.status, code="not-found") from None

    def _fan_out(self, rows: Sequence[StudyRow], call: Callable[[Archive, StudyRow], list[T]]) -> Partial[T]:
        """``call`` on each study's archive concurrently, each within its archive's timeout."""
        states = self._usable(row.archive for row in rows)
        answer: Partial[T] = Partial([])
        skipped: dict[str, int] = {}
        futures = []
        for row in rows:
            if states[row.archive] != CONNECTED:
                skipped[row.archive] = skipped.get(row.archive, 0) + 1
                continue
            futures.append((row, self._pool.submit(call, self.archives[row.archive], row)))
        failed: dict[str, tuple[int, str]] = {}
        for row, future in futures:
            archive = self.archives[row.archive]
            try:
                answer.items.extend(future.result(timeout=archive.timeout + 0.5))
            except (ArchiveUnavailable, FutureTimeout) as error:
                count, _ = failed.get(row.archive, (0, ""))
                failed[row.archive] = (count + 1, str(error) or f"no answer within {archive.timeout:g} s")
            except ArchiveError:
                continue  # the index knows a study the archive no longer holds: nothing to show
        for name, (count, reason) in sorted(failed.items()):
            self.isolate(name, reason)
            answer.missing.append(Missing(name, ISOLATED, count, reason))
        for name, count in sorted(skipped.items()):
            answer.missing.append(Missing(name, states[name], count, "out of the record until assured"))
        return answer

    # -- QIDO-RS -------------------------------------------------------------------------------------
    def _criteria(self, items: Sequence[tuple[str, str]]) -> tuple[dict[str, str], int, int]:
        filters: dict[str, str] = {}
        limit, offset = 100, 0
        for name, value in items:
            if name in PAGING:
                if name in ("limit", "offset"):
                    if not value.isdigit():
                        raise CareRecordError(f"{name} must be a whole number")
                    if name == "limit":
                        limit = min(int(value), MAX_LIMIT)
                    else:
                        offset = int(value)
                continue
            key = {
                "00100020": "PatientID",
                "0020000D": "StudyInstanceUID",
                "00080050": "AccessionNumber",
            }.get(name, name)
            if key not in STUDY_FILTERS:
                raise CareRecordError(
                    f"QIDO-RS here searches by {', '.join(STUDY_FILTERS)}; {name} is not supported",
                    status=400,
                    code="not-supported",
                )
            filters[key] = value.strip()
        return filters, limit, offset

    def _probe(self, filters: Mapping[str, str]) -> str | None:
        """Why a search would look across patients (refused), or None."""
        if not ({"PatientID", "StudyInstanceUID", "AccessionNumber"} & set(filters)):
            return "a study search must name one patient (PatientID), study or accession: cross-patient searches are refused"
        for key in ("PatientID", "StudyInstanceUID", "AccessionNumber"):
            value = filters.get(key)
            if value is not None and (not value or any(ch in value for ch in "*?\\,")):
                return f"{key} must be one exact value: wildcard and list matching across patients is refused"
        return None

    def _patient_for(self, conn: Connection, nhs_number: str) -> str | None:
        return conn.execute(
            sa.select(search_index.c.resource_id).where(
                search_index.c.resource_type == "Patient",
                search_index.c.param == "identifier",
                search_index.c.value == f"{NHS_NUMBER_SYSTEM}|{nhs_number}",
            )
        ).scalar()

    def _nhs_numbers(self, conn: Connection, patient_ids: Iterable[str]) -> dict[str, str]:
        ids = sorted(set(patient_ids))
        rows = conn.execute(
            sa.select(search_index.c.resource_id, search_index.c.value).where(
                search_index.c.resource_type == "Patient",
                search_index.c.param == "identifier",
                search_index.c.resource_id.in_(ids),
                search_index.c.value.startswith(NHS_NUMBER_SYSTEM + "|"),
            )
        )
        return {row.resource_id: row.value.split("|", 1)[1] for row in rows}

    def _matching(
        self, principal: Principal, items: Sequence[tuple[str, str]], what: str
    ) -> tuple[list[StudyRow], dict[str, str]]:
        """The indexed studies a QIDO-RS search matches that this user may see (decided per study,
        audited per patient), a page of them, and their patients' NHS numbers."""
        query = "&".join(f"{name}={value}" for name, value in items if name != "PatientID")
        record = AuditRecord("search-type", "ImagingStudy", query=query or what)
        filters, limit, offset = self._criteria(items)
        probe = self._probe(filters)
        if probe:
            self.service.access(
                lambda _c, _m: self.service.refuse(principal, record, Decision(False, probe), [None])
            )
        self._role_check(principal, "search", record)

        def body(conn: Connection, moment: str) -> tuple[list[StudyRow], dict[str, str]]:
            select = sa.select(imaging_studies)
            if "PatientID" in filters:
                patient_id = self._patient_for(conn, filters["PatientID"])
                select = select.where(imaging_studies.c.patient_id == (patient_id or ""))
            if "StudyInstanceUID" in filters:
                select = select.where(imaging_studies.c.study_uid == filters["StudyInstanceUID"])
            if "AccessionNumber" in filters:
                select = select.where(imaging_studies.c.accession == filters["AccessionNumber"])
            if "ModalitiesInStudy" in filters:
                select = select.where(imaging_studies.c.modality == filters["ModalitiesInStudy"])
            if "StudyDate" in filters:
                low, dash, high = filters["StudyDate"].partition("-")
                if low:
                    select = select.where(imaging_studies.c.study_date >= _dicom_date(low))
                if high or not dash:
                    select = select.where(imaging_studies.c.study_date <= _dicom_date(high or low))
            ordered = select.order_by(imaging_studies.c.study_date.desc(), imaging_studies.c.study_uid)
            rows = [_row(found) for found in conn.execute(ordered)]
            if len({row.patient_id for row in rows}) > 1:
                # An accession number shared by two patients' studies: answered for neither.
                self.service.refuse(
                    principal, record, Decision(False, "the search matches more than one patient"), [None]
                )
            allowed, decisions = self._allowed(conn, principal, "search", rows, moment)
            if rows and not allowed:
                # The search names one patient, so an empty answer would say no less than a refusal:
                # the user is told why (outside the consortium, dissent...), and it is audited.
                patient = rows[0].patient_id
                self.service.refuse(principal, record, decisions[patient], [patient])
            page = allowed[offset : offset + limit]
            shown = {row.patient_id for row in page}
            self._audit(conn, principal, record, {p: d for p, d in decisions.items() if p in shown}, moment)
            return page, self._nhs_numbers(conn, shown)

        return self.service.access(body)

    def search_studies(
        self, principal: Principal, items: Sequence[tuple[str, str]]
    ) -> Partial[dict[str, Any]]:
        """QIDO-RS studies, from the index: a study whose archive is out of the record is named as missing."""
        page, numbers = self._matching(principal, items, "studies")
        states = self._usable(row.archive for row in page)
        answer: Partial[dict[str, Any]] = Partial([])
        skipped: dict[str, int] = {}
        for row in page:
            if states[row.archive] == CONNECTED:
                answer.items.append(study_json(row, numbers.get(row.patient_id, ""), self.base_url))
            else:
                skipped[row.archive] = skipped.get(row.archive, 0) + 1
        answer.missing = [
            Missing(name, states[name], count, "out of the record until assured")
            for name, count in sorted(skipped.items())
        ]
        return answer

    def patient_series(
        self, principal: Principal, items: Sequence[tuple[str, str]]
    ) -> Partial[dict[str, Any]]:
        """QIDO-RS series of one patient's studies across the consortium (fan-out to each owning archive)."""
        page, _ = self._matching(principal, items, "series")
        return self._fan_out(
            page,
            lambda archive, row: [
                series_json(row.study_uid, info, self.base_url)
                for info in archive.search_series(row.study_uid)
            ],
        )

    def study_series(self, principal: Principal, study_uid: str) -> list[dict[str, Any]]:
        row = self._one_study(
            principal, study_uid, AuditRecord("search-type", "ImagingStudy", query=f"series of {study_uid}")
        )
        return [
            series_json(study_uid, info, self.base_url)
            for info in self._call(row, lambda a: a.search_series(study_uid))
        ]

    def series_instances(self, principal: Principal, study_uid: str, series_uid: str) -> list[dict[str, Any]]:
        row = self._one_study(
            principal,
            study_uid,
            AuditRecord("search-type", "ImagingStudy", query=f"instances of {study_uid}"),
        )
        infos = self._call(row, lambda a: a.search_instances(study_uid, series_uid))
        return [instance_json(study_uid, series_uid, info) for info in infos]

    # -- WADO-RS -------------------------------------------------------------------------------------
    def metadata(
        self, principal: Principal, study_uid: str, series_uid: str | None = None
    ) -> list[dict[str, Any]]:
        row = self._one_study(
            principal, study_uid, AuditRecord("read", "ImagingStudy", study_uid, description="metadata")
        )
        return self._call(row, lambda a: a.metadata(study_uid, series_uid))

    def frame(
        self, principal: Principal, study_uid: str, series_uid: str, instance_uid: str, frame: int
    ) -> bytes:
        row = self._one_study(
            principal, study_uid, AuditRecord("read", "ImagingStudy", study_uid, description="frame")
        )
        return self._call(row, lambda a: a.frame(study_uid, series_uid, instance_uid, frame))

    def rendered(self, principal: Principal, study_uid: str, series_uid: str, instance_uid: str) -> bytes:
        row = self._one_study(
            principal, study_uid, AuditRecord("read", "ImagingStudy", study_uid, description="rendered")
        )
        return self._call(row, lambda a: a.rendered(study_uid, series_uid, instance_uid))

    def retrieve_study(self, principal: Principal, study_uid: str) -> Any:
        row = self._one_study(
            principal, study_uid, AuditRecord("read", "ImagingStudy", study_uid, description="retrieve")
        )
        return self._call(row, lambda a: a.retrieve_study(study_uid))

    # -- the viewer --------------------------------------------------------------------------------
    def study_view(
        self, principal: Principal, study_uid: str
    ) -> tuple[StudyRow, list[dict[str, Any]], list[dict[str, Any]]]:
        """One study for the viewer page: its series with their instances, and its reports (FHIR
        DiagnosticReports whose imagingStudy is this study), as one audited access."""
        record = AuditRecord("read", "ImagingStudy", study_uid, description="viewer")
        row = self._one_study(principal, study_uid, record)

        def listing(archive: Archive) -> list[dict[str, Any]]:
            return [
                {
                    "uid": info.uid,
                    "number": info.number,
                    "modality": info.modality,
                    "instances": archive.search_instances(study_uid, info.uid),
                }
                for info in sorted(archive.search_series(study_uid), key=lambda i: (i.number or 0, i.uid))
            ]

        series = self._call(row, listing)
        with self.service.store.begin() as conn:
            reports = [
                report
                for report in res.contents(
                    conn,
                    "DiagnosticReport",
                    list(
                        conn.execute(
                            sa.select(resources.c.id).where(
                                resources.c.resource_type == "DiagnosticReport",
                                resources.c.patient_id == row.patient_id,
                            )
                        ).scalars()
                    ),
                )
                if any(
                    ref.get("reference") == f"ImagingStudy/{row.imaging_study_id}"
                    for ref in report.get("imagingStudy") or []
                )
            ]
        return row, series, reports

    # -- STOW-RS -------------------------------------------------------------------------------------
    def store(self, principal: Principal, instances: Sequence[bytes]) -> dict[str, Any]:
        """Store instances in the archive of the user's trust, index their studies, and write each
        study's FHIR ImagingStudy; decided per patient as a create in the patient's record."""
        record = AuditRecord("create", "ImagingStudy", description="STOW-RS")
        archive_name = next(
            (name for name, trust in self.trusts.items() if trust == principal.org_code), None
        )
        if archive_name is None:
            self.service.access(
                lambda _c, _m: self.service.refuse(
                    principal,
                    record,
                    Decision(False, "the user's organisation has no archive in the consortium"),
                    [None],
                )
            )
            raise AssertionError("unreachable")  # pragma: no cover
        try:
            fields = [
                index_fields(parse_instance(data, position), position)
                for position, data in enumerate(instances, start=1)
            ]
        except DicomError as error:
            raise CareRecordError(str(error), status=400) from None
        if not fields:
            raise CareRecordError("STOW-RS needs at least one instance")
        trust = self.trusts[archive_name]

        def check(
            conn: Connection, moment: str, held: Mapping[str, list[SeriesInfo]] | None
        ) -> dict[str, str]:
            patients: dict[str, str] = {}
            for position, item in enumerate(fields, start=1):
                if item.patient_id not in patients:
                    found = self._patient_for(conn, item.patient_id)
                    if found is None:
                        raise CareRecordError(
                            f"instance {position}: PatientID is not the NHS number of a patient in the record",
                            status=422,
                            code="processable",
                        )
                    patients[item.patient_id] = found
            existing = {
                row.study_uid: row
                for row in conn.execute(
                    sa.select(imaging_studies).where(
                        imaging_studies.c.study_uid.in_(sorted({f.study_uid for f in fields}))
                    )
                )
            }
            for item in fields:
                indexed = existing.get(item.study_uid)
                if indexed is not None and (
                    indexed.archive != archive_name or indexed.patient_id != patients[item.patient_id]
                ):
                    raise CareRecordError(
                        "a study with that UID is already held by another archive or patient",
                        status=409,
                        code="conflict",
                    )
            facts = gather(conn, principal, list(patients.values()), moment)
            agreements = load_agreements(conn, moment[:10])
            decisions = {}
            for pid in patients.values():
                decision = decide(
                    Access(principal, "create", "ImagingStudy", facts.get(pid), agreements, trust)
                )
                if not decision.allowed:
                    self.service.refuse(principal, record, decision, [pid])
                decisions[pid] = decision
            if held is not None:
                self._index(conn, moment, fields, held, patients, archive_name, trust)
                self._audit(conn, principal, record, decisions, moment)
            return patients

        self.service.access(lambda conn, moment: check(conn, moment, None))
        try:
            stored = self.archives[archive_name].store(list(instances))
        except ArchiveUnavailable as error:
            self.isolate(archive_name, str(error))
            raise Unavailable(f"the archive of {trust} is unavailable; nothing was stored") from None
        except ArchiveError as error:
            raise CareRecordError(str(error), status=error.status) from None
        # The index counts what the archive now holds (a study may arrive in several requests).
        held: dict[str, list[SeriesInfo]] = {}
        for study_uid in sorted({f.study_uid for f in fields}):
            try:
                held[study_uid] = self.archives[archive_name].search_series(study_uid)
            except (ArchiveError, ArchiveUnavailable) as error:
                raise Unavailable(f"the archive of {trust} did not list what it stored ({error})") from None
        self.service.access(lambda conn, moment: check(conn, moment, held))
        return {"stored": stored, "studies": sorted({f.study_uid for f in fields}), "archive": archive_name}

    def _index(
        self,
        conn: Connection,
        moment: str,
        fields: Sequence[IndexFields],
        held: Mapping[str, list[SeriesInfo]],
        patients: Mapping[str, str],
        archive_name: str,
        trust: str,
    ) -> None:
        rt = resource_type("ImagingStudy")
        if rt is None:  # pragma: no cover
            raise CareRecordError("the care record does not hold ImagingStudy resources", status=500)
        by_study: dict[str, list[IndexFields]] = {}
        for item in fields:
            by_study.setdefault(item.study_uid, []).append(item)
        for study_uid, items in by_study.items():
            first = items[0]
            patient_id = patients[first.patient_id]
            known = conn.execute(
                sa.select(imaging_studies).where(imaging_studies.c.study_uid == study_uid)
            ).first()
            series = held[study_uid]
            count = sum(info.instances for info in series)
            day = _dicom_date(first.study_date) if first.study_date else None
            imaging_id = known.imaging_study_id if known else res.new_id()
            existing = res.read_resource(conn, "ImagingStudy", imaging_id) if known else None
            identifiers: list[dict[str, Any]] = [
                {"system": DICOM_UID_SYSTEM, "value": f"urn:oid:{study_uid}"}
            ]
            if first.accession:
                identifiers.append({"type": {"text": "accession number"}, "value": first.accession})
            body = res.validate(
                rt,
                {
                    "resourceType": "ImagingStudy",
                    "status": "available",
                    "identifier": identifiers,
                    "subject": {"reference": f"Patient/{patient_id}"},
                    **({"started": day} if day else {}),
                    "modality": [{"system": DCM, "code": first.modality}],
                    "numberOfSeries": len(series),
                    "numberOfInstances": count,
                    "endpoint": [{"reference": f"Endpoint/{endpoint_id(archive_name)}"}],
                    "series": [
                        {
                            "uid": info.uid,
                            **({"number": info.number} if info.number is not None else {}),
                            "modality": {"system": DCM, "code": info.modality or first.modality},
                            "numberOfInstances": info.instances,
                        }
                        for info in series
                    ],
                },
            )
            res.write_resource(
                conn,
                rt,
                body,
                resource_id=imaging_id,
                patient_id=patient_id,
                moment=moment,
                expected_version=existing.version_id if existing else None,
            )
            values = {
                "patient_id": patient_id,
                "trust": trust,
                "archive": archive_name,
                "modality": first.modality,
                "study_date": day,
                "accession": first.accession or None,
                "instances": count,
                "imaging_study_id": imaging_id,
                "indexed": moment,
            }
            if known is None:
                conn.execute(imaging_studies.insert().values(study_uid=study_uid, **values))
                # A new study is a request for a report: its worklist Task.
                from caremodels.imaging.reporting import request_report

                request_report(
                    conn,
                    StudyRow(
                        study_uid,
                        patient_id,
                        trust,
                        archive_name,
                        first.modality,
                        day,
                        first.accession,
                        count,
                        imaging_id,
                    ),
                    moment,
                )
            else:
                conn.execute(
                    imaging_studies.update().where(imaging_studies.c.study_uid == study_uid).values(**values)
                )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def today(clock: Callable[[], dt.datetime]) -> str:
    return clock().date().isoformat()
