"""Typed exceptions. Every message is one line, fit to show a user as is."""


class ZhibiaoError(Exception):
    """Base class for every error zhibiao raises on purpose."""


class InputError(ZhibiaoError):
    """A document could not be read: missing, empty, corrupt, encrypted or not a table."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class FileNotFound(InputError):
    """The path does not exist."""


class EmptyDocument(InputError):
    """The file has no content."""


class CorruptDocument(InputError):
    """The file claims a format it does not have, or is damaged."""


class EncryptedDocument(InputError):
    """The file is password protected."""


class UnsupportedFormat(InputError):
    """The file is not a document type zhibiao reads."""


class FileTooLarge(UnsupportedFormat):
    """The file is above the size limit (ZHIBIAO_MAX_FILE_MB, default 200)."""


class NoIndicatorTable(InputError):
    """The document was read, but holds no indicator table."""


class ModelNotFound(ZhibiaoError):
    """No trained model artifacts where they were expected."""


class InconsistentVersionWarning(UserWarning):
    """A saved model was built by another zhibiao version (as scikit-learn warns on unpickling)."""


class ScannedDocument(UnsupportedFormat):
    """A PDF without a text layer (a scan): zhibiao does no OCR."""


class ConverterMissing(UnsupportedFormat):
    """A legacy office file (.doc, .wps, .et) and no LibreOffice to convert it."""


class StoreError(ZhibiaoError):
    """The corpus store cannot be opened, migrated or changed as asked."""
