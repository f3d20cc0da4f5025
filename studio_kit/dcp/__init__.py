"""SMPTE DCP export: XYZ JPEG 2000 + PCM in MXF, CPL, PKL, ASSETMAP, VOLINDEX.

Public API: :func:`export_dcp`, :class:`DcpOptions`, :class:`DcpResult` (see docs/dcp.md).
"""

from .export import DcpError, DcpOptions, DcpResult, export_dcp

__all__ = ["DcpError", "DcpOptions", "DcpResult", "export_dcp"]
