#!/usr/bin/env python3
"""integration/dashboard_cluster/promcheck.py -- checks that a text is well
formed in the Prometheus text exposition format (version 0.0.4), more
strictly than Prometheus' own parser where our exporters promise more:

  * every line ends with '\\n' (the last one too); empty lines are allowed;
  * '# HELP name text' and '# TYPE name type': a valid metric name, at most
    one of each per family, a known type (counter gauge histogram summary
    untyped), the HELP text with no escapes but \\\\ and \\n, both before
    the first sample of the family; other '#' lines are comments;
  * a sample is 'name[{label="value",...}] value [timestamp]': a valid
    metric name, valid label names (not starting with __), no label twice,
    values in double quotes with no escapes but \\\\ \\" \\n, a float value
    (Go's ParseFloat syntax, NaN and [+-]Inf included), an integer
    timestamp;
  * the samples of a family form one group (no other family in between);
  * no series (name and label set) twice;
  * every family has a # TYPE (our exporters always write one), counters
    are never negative, histogram/summary children carry their suffixes.

  promcheck.py FILE [NAME]   prints "ok NAME: N families, M series" or one
                             line per problem (exit 1); FILE - is stdin
  promcheck.py --self-test   runs the checker on good and bad examples
"""
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|Inf|NaN)")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count", "")}


def parse_labels(s, i, errs, where):
    """Parses '{...}' at s[i] == '{'. Returns (labels dict, index after
    '}') or (None, i) after reporting the problem."""
    labels = {}
    i += 1
    while True:
        while i < len(s) and s[i] == " ":
            i += 1
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            errs.append("%s: bad label name at column %d" % (where, i + 1))
            return None, i
        key = m.group(0)
        if key.startswith("__"):
            errs.append("%s: reserved label name %s" % (where, key))
        if key in labels:
            errs.append("%s: label %s twice" % (where, key))
        i = m.end()
        if s[i:i + 2] != '="':
            errs.append("%s: expected =\" after label %s" % (where, key))
            return None, i
        i += 2
        val = []
        while True:
            if i >= len(s):
                errs.append("%s: unterminated label value" % where)
                return None, i
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    errs.append("%s: bad escape \\%s in label %s"
                                % (where, nxt, key))
                    return None, i
                val.append({"n": "\n"}.get(nxt, nxt))
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                val.append(c)
                i += 1
        labels[key] = "".join(val)
        if i < len(s) and s[i] == ",":
            i += 1
        elif i < len(s) and s[i] == "}":
            return labels, i + 1
        else:
            errs.append("%s: expected , or } after label %s" % (where, key))
            return None, i


class Checker:
    def __init__(self):
        self.errs = []
        self.types = {}      # family -> type
        self.helps = set()
        self.started = set()  # families with samples seen
        self.current = None  # family of the previous sample
        self.closed = set()  # families whose group ended
        self.series = set()

    def family_of(self, name):
        """The family a sample name belongs to (histogram/summary children
        by their suffix), else the name itself."""
        for fam, typ in self.types.items():
            for suf in SUFFIXES.get(typ, ()):
                if name == fam + suf:
                    return fam
        return name

    def meta(self, line, where):
        parts = line.split(" ", 3)
        if len(parts) < 3 or parts[1] not in ("HELP", "TYPE"):
            return  # a comment
        kind, name = parts[1], parts[2]
        if not NAME.fullmatch(name):
            self.errs.append("%s: bad metric name %r in # %s"
                             % (where, name, kind))
            return
        if name in self.started:
            self.errs.append("%s: # %s %s after its samples"
                             % (where, kind, name))
        rest = parts[3] if len(parts) > 3 else ""
        if kind == "HELP":
            if name in self.helps:
                self.errs.append("%s: second # HELP for %s" % (where, name))
            self.helps.add(name)
            if not re.fullmatch(r"(?:[^\\]|\\[\\n])*", rest):
                self.errs.append("%s: bad escape in # HELP %s" % (where, name))
        else:
            if name in self.types:
                self.errs.append("%s: second # TYPE for %s" % (where, name))
            if rest not in TYPES:
                self.errs.append("%s: unknown type %r for %s"
                                 % (where, rest, name))
            self.types[name] = rest

    def sample(self, line, where):
        m = NAME.match(line)
        if not m:
            self.errs.append("%s: bad metric name" % where)
            return
        name, i, labels = m.group(0), m.end(), {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i, self.errs, where)
            if labels is None:
                return
        fields = line[i:].split(" ")
        if not fields or fields[0] != "":
            self.errs.append("%s: expected a space after %s%s"
                             % (where, name, "{...}" if labels else ""))
            return
        fields = [f for f in fields[1:] if f != ""]
        if len(fields) not in (1, 2):
            self.errs.append("%s: expected a value and an optional timestamp"
                             % where)
            return
        if not FLOAT.fullmatch(fields[0]):
            self.errs.append("%s: bad value %r" % (where, fields[0]))
            return
        if len(fields) == 2 and not re.fullmatch(r"-?[0-9]+", fields[1]):
            self.errs.append("%s: bad timestamp %r" % (where, fields[1]))
        fam = self.family_of(name)
        typ = self.types.get(fam)
        if typ is None:
            self.errs.append("%s: %s has no # TYPE before it" % (where, fam))
        elif typ in SUFFIXES and name == fam and typ == "histogram":
            self.errs.append("%s: histogram sample %s without a suffix"
                             % (where, name))
        elif typ == "histogram" and name == fam + "_bucket" and "le" not in labels:
            self.errs.append("%s: bucket without le" % where)
        if typ == "counter" and fields[0].startswith("-"):
            self.errs.append("%s: negative counter %s" % (where, name))
        if fam != self.current:
            if fam in self.closed or fam in self.started:
                self.errs.append("%s: samples of %s are not one group"
                                 % (where, fam))
            if self.current is not None:
                self.closed.add(self.current)
            self.current = fam
        self.started.add(fam)
        key = (name, tuple(sorted(labels.items())))
        if key in self.series:
            self.errs.append("%s: duplicate series %s%s"
                             % (where, name, dict(labels) or ""))
        self.series.add(key)

    def run(self, text):
        if text == "":
            self.errs.append("empty exposition")
            return self.errs
        if not text.endswith("\n"):
            self.errs.append("the last line does not end with a newline")
        for n, line in enumerate(text[:-1].split("\n")
                                 if text.endswith("\n")
                                 else text.split("\n"), 1):
            where = "line %d" % n
            if "\r" in line:
                self.errs.append("%s: carriage return" % where)
                continue
            if line.strip() == "":
                continue
            if line.startswith("#"):
                self.meta(line, where)
            else:
                self.sample(line, where)
        if not self.series:
            self.errs.append("no samples")
        return self.errs


def check(text):
    """Returns (problems, families, series)."""
    c = Checker()
    errs = c.run(text)
    return errs, len(c.started), len(c.series)


GOOD = [
    "# HELP a_total A counter.\n# TYPE a_total counter\na_total 3\n",
    '# TYPE g gauge\ng{x="1",y="a\\"b\\\\c\\n"} -1.5e3\ng{x="2",} +Inf 1700000000000\n',
    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
    "# a comment\n# TYPE s summary\ns{quantile=\"0.5\"} NaN\ns_sum 0\ns_count 0\n\n",
]
BAD = [
    ("no newline at the end", "# TYPE a gauge\na 1"),
    ("bad metric name", "# TYPE a gauge\n1a 1\n"),
    ("bad value", "# TYPE a gauge\na one\n"),
    ("no value", "# TYPE a gauge\na\n"),
    ("unquoted label", "# TYPE a gauge\na{x=1} 1\n"),
    ("bad escape", '# TYPE a gauge\na{x="\\t"} 1\n'),
    ("label twice", '# TYPE a gauge\na{x="1",x="2"} 1\n'),
    ("unterminated labels", '# TYPE a gauge\na{x="1" 1\n'),
    ("TYPE after samples", "a 1\n# TYPE a gauge\n"),
    ("no TYPE", "# HELP a x\na 1\n"),
    ("second TYPE", "# TYPE a gauge\n# TYPE a gauge\na 1\n"),
    ("unknown type", "# TYPE a meter\na 1\n"),
    ("duplicate series", '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n'),
    ("split group", "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"1\"} 1\n"),
    ("negative counter", "# TYPE a_total counter\na_total -1\n"),
    ("bad HELP escape", "# HELP a tab\\t\n# TYPE a gauge\na 1\n"),
    ("CRLF", "# TYPE a gauge\r\na 1\r\n"),
    ("trailing garbage", "# TYPE a gauge\na 1 2 3\n"),
    ("empty", ""),
]


def self_test():
    bad = 0
    for t in GOOD:
        errs, _, _ = check(t)
        if errs:
            print("FAIL promcheck accepts %r: %s" % (t, errs))
            bad += 1
    for what, t in BAD:
        errs, _, _ = check(t)
        if not errs:
            print("FAIL promcheck rejects: %s" % what)
            bad += 1
    if not bad:
        print("ok promcheck self-test (%d good, %d bad examples)"
              % (len(GOOD), len(BAD)))
    return 1 if bad else 0


def main(argv):
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test()
    if len(argv) < 2:
        sys.exit(__doc__)
    name = argv[2] if len(argv) > 2 else argv[1]
    if argv[1] == "-":
        text = sys.stdin.read()
    else:
        with open(argv[1], encoding="utf-8") as f:
            text = f.read()
    errs, fams, series = check(text)
    for e in errs[:20]:
        print("  %s: %s" % (name, e))
    if errs:
        return 1
    print("%s: %d families, %d series" % (name, fams, series))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
