"""The shared radiology record (EMRAD): each member trust's DICOM archive behind one ``Archive``
interface (Orthanc or files), one consortium study index in the care record's operational store, and a
DICOMweb gateway (QIDO-RS, WADO-RS, STOW-RS) whose every request passes the care record's one policy
function and writes its audit.

Boundaries: above ``caremodels.care_record`` (it uses the store, the policy and the audit writer; the
care record never imports it). Identifiable data (NHS numbers in DICOM PatientID) stays in the archives
and the operational store; nothing here logs a patient-level value.
"""
