"""Every measured figure in the README comes from a benchmark's saved output.

A README passage that quotes measurements starts with a marker naming its source,
``<!-- measured: bench/results/NAME.txt -->``. The passage is the fenced block or the
paragraph that follows the marker. In a fenced block every line must be a line of the
results file; in a paragraph every decimal number must appear in the results file.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- measured: (\S+) -->$")   # a line of its own (not one quoted in prose)
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+")


def measured_passages(text):
    """(results path, kind, passage lines) for each marker in a Markdown text."""
    lines = text.splitlines()
    passages = []
    for index, line in enumerate(lines):
        match = MARKER.match(line.strip())
        if not match:
            continue
        rest = lines[index + 1:]
        while rest and not rest[0].strip():
            rest = rest[1:]
        if rest and rest[0].startswith("```"):
            end = next(i for i, ln in enumerate(rest[1:], 1) if ln.startswith("```"))
            passages.append((match.group(1), "block", rest[1:end]))
        else:
            end = next((i for i, ln in enumerate(rest) if not ln.strip()), len(rest))
            passages.append((match.group(1), "paragraph", rest[:end]))
    return passages


def unsupported(passage_kind, passage, results_text):
    """The lines (block) or numbers (paragraph) of a passage that the results lack."""
    result_lines = {ln.rstrip() for ln in results_text.splitlines()}
    if passage_kind == "block":
        return [ln for ln in passage if ln.strip() and ln.rstrip() not in result_lines]
    numbers = set(DECIMAL.findall(results_text))
    return [n for ln in passage for n in DECIMAL.findall(ln) if n not in numbers]


def test_readme_quotes_only_figures_the_benchmarks_printed():
    passages = measured_passages((REPO / "README.md").read_text())
    assert len(passages) >= 3, "the README's measured passages lost their markers"
    for source, kind, passage in passages:
        path = REPO / source
        assert path.is_file(), "README cites %s, which does not exist" % source
        missing = unsupported(kind, passage, path.read_text())
        assert not missing, "README figures not in %s: %s" % (source, missing)


@pytest.mark.parametrize("readme, results, bad", [
    ("<!-- measured: r.txt -->\n```\nfp32   1.218\n```\n", "fp32   1.218\n", []),
    ("<!-- measured: r.txt -->\n```\nfp32   1.219\n```\n", "fp32   1.218\n", ["fp32   1.219"]),
    ("<!-- measured: r.txt -->\nit ran 4.99x faster and 12.5x smaller.\n\nlater 7.7", "best 4.99 12.5", []),
    ("<!-- measured: r.txt -->\nit ran 5.01x faster.\n", "best 4.99 12.5", ["5.01"]),
])
def test_the_check_fails_on_a_figure_the_results_lack(readme, results, bad):
    (source, kind, passage), = measured_passages(readme)
    assert source == "r.txt"
    assert unsupported(kind, passage, results) == bad
