"""The summary table `runtime.bench` prints at the end of a run: every figure of the run, and the ratios.

Figures are added as they are measured (each part also prints its own lines as it goes), so a
run that was cut short still says what it measured; a skipped part gets a row saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    part: str
    figure: str
    result: str
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, part: str, figure: str, result: str, note: str = "") -> None:
        self.rows.append(Row(part, figure, result, note))

    def rate(self, part: str, figure: str, done: int, seconds: float, note: str = "") -> float:
        """Add ``done / seconds`` as tasks/s; returns it (for the ratios)."""
        rate = done / seconds
        self.add(part, figure, f"{rate:,.0f} tasks/s", note or f"{done:,} tasks in {seconds:.2f} s")
        return rate

    def ratio(self, part: str, figure: str, numerator: float, denominator: float, note: str = "") -> None:
        self.add(part, figure, f"{numerator / denominator:.2f}x", note)

    def skipped(self, part: str, figure: str, why: str) -> None:
        print(f"{figure} skipped: {why}")
        self.add(part, figure, "skipped", why)

    def markdown(self) -> str:
        """A Markdown table (it reads as plain text in a terminal too)."""
        header = ("part", "figure", "result", "note")
        lines = [f"| {' | '.join(header)} |", f"|{'|'.join('---' for _ in header)}|"]
        lines += [f"| {row.part} | {row.figure} | {row.result} | {row.note} |" for row in self.rows]
        return "\n".join(lines)
