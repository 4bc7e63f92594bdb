"""Ingest: documents (text dumps, .docx, .xlsx/.xls, .csv, PDF, .doc/.wps/.et) → indicator rows and projects.

    >>> from zhibiao.ingest import extract_all, ROW_COLUMNS
    >>> ROW_COLUMNS[:4]
    ['source', 'location', 'project_id', 'project_name']

Each reader turns a file into the shared table model (:mod:`.model`);
:mod:`.assemble` finds projects, headers and indicator rows in it.
"""
from .api import ExtractResult, FileTooLarge, extract, extract_all, read_document
from .assemble import PROJECT_COLUMNS, ROW_COLUMNS
from .registry import SUFFIXES, UPLOAD_TYPES, check_head, sniff

SUPPORTED_SUFFIXES = SUFFIXES  # the name the batch engine and the service use

__all__ = ["extract", "extract_all", "ExtractResult", "FileTooLarge", "read_document",
           "ROW_COLUMNS", "PROJECT_COLUMNS", "SUFFIXES", "SUPPORTED_SUFFIXES", "UPLOAD_TYPES", "check_head", "sniff"]
