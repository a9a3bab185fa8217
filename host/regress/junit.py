"""The regress checks as a JUnit XML file: one testcase per device x variant x figure.

CI systems (GitHub Actions' test reporters, GitLab, Jenkins) read this schema: a
regression is a <failure> with the numbers, a figure without history or not measured
is <skipped> with the reason, everything else passes.
"""

import xml.etree.ElementTree as ElementTree

from ..files import write_atomically

from .check import NO_HISTORY, NOT_MEASURED
from .compare import REGRESSION


def _numbers(check):
    if check.ratio is None:
        return check.why
    return "%s: today %.4g vs baseline %.4g (ratio %.3f, 95%% CI %.3f to %.3f) over runs %s. %s%s" % (
        check.figure, check.today, check.baseline, check.ratio, check.ci[0], check.ci[1],
        ", ".join("#%d" % r for r in check.baseline_runs), check.why,
        ("; facts changed: " + "; ".join(check.facts_changed)) if check.facts_changed else "")


def document(checks, name="edgeshrink regress"):
    suite = ElementTree.Element("testsuite", name=name, tests=str(len(checks)),
                                failures=str(sum(c.verdict == REGRESSION for c in checks)),
                                skipped=str(sum(c.verdict in (NO_HISTORY, NOT_MEASURED) for c in checks)),
                                errors="0")
    for check in checks:
        case = ElementTree.SubElement(suite, "testcase", classname="%s.%s" % (check.device, check.variant),
                                      name=check.figure, time="0")
        if check.verdict == REGRESSION:
            failure = ElementTree.SubElement(case, "failure", type="regression",
                                             message="%s %s %s: %s" % (check.device, check.variant, check.figure,
                                                                       check.why))
            failure.text = _numbers(check)
        elif check.verdict in (NO_HISTORY, NOT_MEASURED):
            ElementTree.SubElement(case, "skipped", message=check.why)
        else:
            ElementTree.SubElement(case, "system-out").text = _numbers(check)
    root = ElementTree.Element("testsuites")
    root.append(suite)
    return ElementTree.tostring(root, encoding="unicode")


def write(path, checks):
    """Write atomically: a CI job never reads half a file."""
    write_atomically(path, '<?xml version="1.0" encoding="UTF-8"?>\n' + document(checks) + "\n", prefix=".junit-")
