"""What a batch run did (:class:`BatchReport`), and the progress bar it shows on a terminal."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class BatchReport:
    """What a batch run did. ``rows_in == rows_out`` always (no row is dropped)."""
    output: str = ""
    rows_in: int = 0            # input rows, including those of chunks skipped on resume
    rows_out: int = 0           # rows in the output, including those written by an earlier run
    rows_processed: int = 0     # rows normalized (or served from cache) in this run
    distinct: int = 0           # distinct key tuples, summed over chunks
    cache_hits: int = 0         # of those, served from the on-disk cache
    normalized: int = 0         # of those, sent to the normalizer
    error_rows: int = 0         # rows kept with the normalize_error flag
    names_embedded: int = 0     # distinct names embedded in this run (the others were in the vector store)
    chunks: int = 0             # chunks in the input (done now + skipped)
    skipped_chunks: int = 0     # chunks already committed by an earlier run (resume)
    failures: list[str] = field(default_factory=list)   # files that could not be read (or not to the end)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rows_per_s: float = 0.0
    engine: str = "local"
    jobs: int = 1

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.distinct if self.distinct else 0.0

    @property
    def dedupe_ratio(self) -> float:
        """Rows per distinct tuple actually computed or looked up."""
        return self.rows_processed / self.distinct if self.distinct else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cache_hit_rate"] = round(self.cache_hit_rate, 4)
        return d

    def summary(self) -> str:
        return (f"{self.rows_out} rows → {self.output} in {self.seconds:.1f}s "
                f"({self.rows_per_s:,.0f} rows/s); {self.distinct} distinct, "
                f"{self.cache_hits} cache hits ({self.cache_hit_rate:.0%}); "
                f"{self.chunks} chunks ({self.skipped_chunks} resumed); "
                f"{self.error_rows} error rows; {len(self.failures)} unreadable files")


def _progress(enabled: bool, total: int | None):
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn,
                               TextColumn, TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task):
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} rows/s" if speed else "– rows/s")

    console = Console(stderr=True)
    progress = Progress(SpinnerColumn(), TextColumn("normalize"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("rows"), RowsPerSecond(), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), console=console,
                        disable=not (enabled and console.is_terminal), transient=False)
    return progress
