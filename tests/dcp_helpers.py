"""ClairMeta's full check of a DCP, here without asdcplib.

ClairMeta probes SMPTE track files only through asdcplib: ``asdcp-info`` fills each asset's
"Probe" and ``asdcp-unwrap`` extracts a timed-text track file. Neither is on PyPI or in
Debian here. Without asdcp-unwrap ClairMeta's subtitle checker raises out of
``DCP.check()``; :func:`check_dcp` then unwraps with the strict ST 429-5 reader
(studio_kit/dcp/timed_text.py), exactly where and as asdcp-unwrap would write, so every
ClairMeta check runs. The three subtitle checks that read the Probe fail on it (KeyError)
and nothing else may fail; those three are then run again, ClairMeta's own code, with the
Probe values the reader gives. With asdcplib on PATH, nothing is patched and nothing may fail.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from studio_kit.dcp import timed_text as tt

NEEDS_ASDCP_INFO = {
    "check_subtitle_cpl_xml": "NamespaceName",         # the XSD to use + LabelSetType
    "check_subtitle_cpl_uuid": "AssetID",               # TimedTextDescriptor ResourceID
    "check_subtitle_cpl_duplicated_uuid": "AssetUUID",  # the track file's own UUID
}


@contextlib.contextmanager
def unwrap_with_reader(path, prefix=None, args=()):
    """What ``asdcp-unwrap`` leaves: the XML at <tmp>/<mxf stem>, each ancillary resource
    at <tmp>/<its UUID> (asdcplib src/asdcp-unwrap.cpp, read_timed_text_file)."""
    track = tt.read_timed_text(Path(path))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / Path(prefix or Path(path).stem)).write_bytes(track.xml)
        for rid, (_mime, data) in track.resources.items():
            (Path(tmp) / str(rid)).write_bytes(data)
        yield tmp


def _bad(checks, allowed_warnings=frozenset()) -> dict:
    return {c.name: c.errors for c in checks
            if any(e.criticality == "ERROR" or (e.criticality == "WARNING"
                                                and c.name not in allowed_warnings)
                   for e in c.errors)}


def check_dcp(path, monkeypatch, allowed_warnings=frozenset()):
    """ClairMeta's default check; returns (dcp, report, the checks skipped for asdcplib).
    Nothing may fail at ERROR or WARNING, except a WARNING of a check named in
    ``allowed_warnings`` (content advice the caller accepts and says why)."""
    import clairmeta.dcp_check_subtitle as cds
    from clairmeta import DCP

    asdcplib = shutil.which("asdcp-info") and shutil.which("asdcp-unwrap")
    if not asdcplib:
        monkeypatch.setattr(cds, "unwrap_mxf", unwrap_with_reader)
    d = DCP(str(path))
    _ok, report = d.check()
    failed = _bad(report.checks, allowed_warnings)
    subs = [a for cpl in d._list_cpl
            for reel in cpl["Info"]["CompositionPlaylist"]["ReelList"]
            for k, a in reel["Assets"].items() if k == "Subtitle"]
    if asdcplib or not subs:
        assert failed == {}, report.pretty_str()
        return d, report, set()
    assert set(failed) == set(NEEDS_ASDCP_INFO), report.pretty_str()
    for errors in failed.values():
        assert all(e.name == "internal_error" and "KeyError: 'Probe'" in e.message
                   for e in errors), errors
    root = Path(d.path)
    for asset in subs:
        track = tt.read_timed_text(root / asset["Path"])
        asset["Probe"] = {"NamespaceName": track.namespace, "LabelSetType": "SMPTE",
                          "AssetID": str(track.resource_id), "AssetUUID": str(track.asset)}
    checker = cds.Checker(d)
    checker.run_checks()
    again = {c.name for c in checker.checks}
    assert set(NEEDS_ASDCP_INFO) <= again
    # judged here: the three (the others were judged above, with the profile's criticality)
    assert {c.name: [e.message for e in c.errors] for c in checker.checks
            if c.name in NEEDS_ASDCP_INFO and c.errors} == {}
    return d, report, set(NEEDS_ASDCP_INFO)
