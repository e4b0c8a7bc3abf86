"""The metric names that Portcullis's Grafana dashboard and Prometheus rules query.

    python3 scripts/deploy/metric_names.py deploy/grafana/portcullis.json deploy/prometheus/alerts.yml

prints one name a line, each with the file that queries it. PromQL is taken
apart just enough for that: strings, label matchers, ranges, grouping
clauses, functions and keywords are removed, and what is left are metric
names. Used by scripts/check-deploy.sh.
"""
import json
import re
import sys

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "atan2",
}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def names_in(expr):
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    expr = GROUPING.sub("", expr)
    found = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        name = match.group(0)
        after = expr[match.end():].lstrip()
        before = expr[:match.start()]
        if after.startswith("("):  # a function
            continue
        if name.lower() in KEYWORDS or re.search(r"[0-9.]$", before):  # 1e-9, 5m
            continue
        found.add(name)
    return found


def dashboard_exprs(path):
    doc = json.load(open(path))
    exprs = []

    def walk(panels):
        for panel in panels:
            exprs.extend(t["expr"] for t in panel.get("targets", []) if t.get("expr"))
            walk(panel.get("panels", []))

    walk(doc.get("panels", []))
    for variable in doc.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        match = re.match(r"\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,", query or "")
        if match:
            exprs.append(match.group(1))
    return exprs


def rule_exprs(path):
    exprs, in_expr = [], None
    # A small reader for the rules' `expr:` values (plain or folded), so the
    # check needs no YAML library.
    for line in open(path):
        stripped = line.strip()
        if in_expr is not None:
            indent = len(line) - len(line.lstrip())
            if stripped and indent > in_expr[0]:
                in_expr[1].append(stripped)
                continue
            exprs.append(" ".join(in_expr[1]))
            in_expr = None
        match = re.match(r"(\s*)(?:- )?expr:\s*(.*)$", line)
        if match:
            value = match.group(2).strip()
            if value in (">", ">-", "|", "|-"):
                in_expr = (len(match.group(1)), [])
            else:
                exprs.append(value.strip("'\""))
    if in_expr is not None:
        exprs.append(" ".join(in_expr[1]))
    return exprs


def main(paths):
    for path in paths:
        exprs = dashboard_exprs(path) if path.endswith(".json") else rule_exprs(path)
        if not exprs:
            sys.exit(f"{path}: no queries found")
        for name in sorted(set().union(*(names_in(e) for e in exprs))):
            print(name, path)


if __name__ == "__main__":
    main(sys.argv[1:])
