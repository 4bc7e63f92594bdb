"""Legacy office files (.doc, .wps, .et) through a local LibreOffice.

The file is copied into a fresh temporary directory, converted there by
``soffice --headless --convert-to docx|xlsx`` with its own throw-away user
profile (so parallel conversions do not share a lock, and macros and remote
links stay off), under a timeout; then the .docx/.xlsx reader reads the copy.
The input is never written to, and the directory is removed afterwards.

Without LibreOffice the user gets one line saying how to install it or what
to save the file as.

    >>> from zhibiao.ingest.legacy import install_hint
    >>> install_hint(".doc")
    'install LibreOffice (Debian/Ubuntu: apt-get install libreoffice-writer; macOS: brew install --cask libreoffice; Windows: libreoffice.org) or save the file as .docx'
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from ..errors import ConverterMissing, CorruptDocument, FileTooLarge

DEFAULT_TIMEOUT_S = 120.0
# Installed outside PATH by the official installers.
_KNOWN_PATHS = ("/usr/lib/libreoffice/program/soffice", "/opt/libreoffice/program/soffice",
                "/Applications/LibreOffice.app/Contents/MacOS/soffice",
                r"C:\Program Files\LibreOffice\program\soffice.exe")

# The temporary profile: no macros, no remote content, no update check, no recovery.
_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="UseOpenCL" oor:op="fuse"><value>false</value></prop></item>
<item oor:path="/org.openoffice.Office.Jobs/Jobs/org.openoffice.Office.Jobs:Job['UpdateCheck']/Arguments"><prop oor:name="AutoCheckEnabled" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
"""


def timeout_s() -> float:
    return float(os.environ.get("ZHIBIAO_SOFFICE_TIMEOUT", DEFAULT_TIMEOUT_S))


def find_soffice() -> str | None:
    """The LibreOffice binary: $ZHIBIAO_SOFFICE, then soffice/libreoffice on PATH, then the usual places."""
    env = os.environ.get("ZHIBIAO_SOFFICE")
    if env:
        return env if Path(env).is_file() else None
    for name in ("soffice", "libreoffice"):
        if found := shutil.which(name):
            return found
    return next((p for p in _KNOWN_PATHS if Path(p).is_file()), None)


def install_hint(suffix: str) -> str:
    target = ".xlsx" if suffix in (".et", ".xls") else ".docx"
    package = "libreoffice-calc" if target == ".xlsx" else "libreoffice-writer"
    return (f"install LibreOffice (Debian/Ubuntu: apt-get install {package}; macOS: brew install --cask "
            f"libreoffice; Windows: libreoffice.org) or save the file as {target}")


def convert(path: str | Path, target: str, outdir: str | Path, as_suffix: str | None = None,
            timeout: float | None = None) -> Path:
    """Convert ``path`` with LibreOffice to ``target`` (docx, xlsx, pdf, doc, xls…) in ``outdir``.

    ``as_suffix`` names the copy LibreOffice sees (.wps content is Word 97: ".doc").
    Returns the converted file. Raises ConverterMissing, FileTooLarge (timeout)
    or CorruptDocument (LibreOffice could not convert it).
    """
    path, outdir = Path(path), Path(outdir)
    suffix = path.suffix.lower()
    soffice = find_soffice()
    if soffice is None:
        raise ConverterMissing(path, f"a {suffix} file needs LibreOffice to be read: {install_hint(suffix)}")
    limit = timeout_s() if timeout is None else timeout
    work = Path(tempfile.mkdtemp(prefix="zhibiao-lo-"))
    try:
        profile = work / "profile"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(_PROFILE, encoding="utf-8")
        src = work / f"input{as_suffix or suffix}"  # an ASCII name: LibreOffice's own output name follows it
        shutil.copyfile(path, src)
        out = work / "out"
        cmd = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--invisible",
               "--norestore", "--nolockcheck", "--nodefault", "--nologo",
               "--convert-to", target, "--outdir", str(out), str(src)]
        env = {**os.environ, "HOME": str(work), "SAL_USE_VCLPLUGIN": "svp",
               "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)  # its own group: a timeout kills soffice.bin too
        try:
            log, _ = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise FileTooLarge(path, f"LibreOffice did not convert the file within {limit:.0f} s "
                                     f"(raise ZHIBIAO_SOFFICE_TIMEOUT, or save it as .{target.split(':')[0]})") from None
        produced = sorted(out.glob("input.*")) if out.is_dir() else []
        if not produced:
            last = (log or b"").decode("utf-8", "replace").strip().splitlines()
            why = f" ({last[-1][:120]})" if last else ""
            raise CorruptDocument(path, f"LibreOffice could not convert this {suffix} file{why}; "
                                        f"open it and save it as .{target.split(':')[0]}")
        outdir.mkdir(parents=True, exist_ok=True)
        dest = outdir / f"{path.stem}{produced[0].suffix}"
        shutil.move(str(produced[0]), dest)
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
    proc.wait()


def _read_converted(path: Path, target: str, as_suffix: str | None = None):
    with tempfile.TemporaryDirectory(prefix="zhibiao-conv-") as tmp:
        converted = convert(path, target, tmp, as_suffix=as_suffix)
        if target == "docx":
            from .docx_reader import read_docx
            doc = read_docx(converted)
        else:
            from .xlsx_reader import read_xlsx
            doc = read_xlsx(converted)
    doc.source = path.name
    return doc


def read_legacy_doc(path):
    """.doc/.wps (Word 97 binary or RTF): LibreOffice → .docx → the docx reader."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(8)
    as_suffix = ".rtf" if head.startswith(b"{\\rtf") else ".doc"  # Kingsoft .wps is Word 97 inside
    return _read_converted(path, "docx", as_suffix)


def read_et(path):
    """.et (WPS Spreadsheets): usually BIFF8 like .xls, so xlrd first; else LibreOffice → .xlsx."""
    path = Path(path)
    try:
        import xlrd
        from .xls_reader import read_xls
        doc = read_xls(path)
    except (xlrd.XLRDError, ValueError, AssertionError, IndexError, KeyError):
        return _read_converted(path, "xlsx", ".xls")
    doc.source = path.name
    return doc
