"""brainbench.report: evidence sheets (HTML, Markdown, JSON) and leaderboards.

Public surface:

:func:`write_report`
    Run directories in, ``evidence.html`` / ``.md`` / ``.json`` and figures out.
:func:`read_runs`, :class:`RunData`
    Reading run directories (any file may be missing).
:data:`SECTIONS`, :func:`section`, :class:`Section`
    The registry of report sections (one small unit each).
:func:`write_leaderboard`
    Evidence sheets of several benchmarks in, ``index.html`` / ``index.md`` out.
:func:`convert_clinicadl`
    A ClinicaDL prediction TSV to the predictions table.
"""

from brainbench.report._convert import convert_clinicadl
from brainbench.report._leaderboard import write_leaderboard
from brainbench.report._model import SECTIONS, Figure, Section, Table, section
from brainbench.report._run import RunData, read_runs
from brainbench.report._write import write_report

__all__ = [
    "SECTIONS",
    "Figure",
    "RunData",
    "Section",
    "Table",
    "convert_clinicadl",
    "read_runs",
    "section",
    "write_leaderboard",
    "write_report",
]
