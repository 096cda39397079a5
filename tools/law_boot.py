#!/usr/bin/env python3
"""Write src/law/law_boot.c: the bootstrap replicates of the built-in fitted laws
(unified-quest, unified-quartet2), from the report.json of `capmetric validate`.

    build/capmetric validate -o /tmp/v && python3 tools/law_boot.py /tmp/v/report.json

The replicates are refits on runs resampled with replacement (seeded: the same
on every machine); `capmetric predict` reads them for its intervals."""
import json
import sys

rep = json.load(open(sys.argv[1]))
fits = rep["fits"]
laws = [("unified-quest", fits["unified_fit_int_fp"]),
        ("unified-quartet2", fits["quartet2"]["unified_fit"])]
out = ["/* The bootstrap replicates of the built-in fitted laws: written by tools/law_boot.py",
       " * from `capmetric validate`'s report.json (capmetric %s); do not edit. */" % rep["version"],
       "#include <string.h>", "", '#include "law_boot.h"', ""]
rows = []
for i, (name, f) in enumerate(laws):
    s = f["bootstrap_samples"]
    kb = len(s[0])
    names = ", ".join(p["name"] for p in f["params"])
    out.append("/* %s: %d replicates of %s */" % (name, len(s), names))
    out.append("static const double b%d[] = {" % i)
    for r in s:
        out.append("    " + ", ".join("%.17g" % x for x in r) + ",")
    out.append("};")
    rows.append('    {"%s", b%d, sizeof b%d / sizeof b%d[0] / %d, %d},' % (name, i, i, i, kb, kb))
out += ["", "static const struct {", "    const char *name;", "    const double *b;",
        "    size_t n, kb;", "} tabs[] = {"] + rows + ["};", "",
        "const double *cm_law_boot_builtin(const char *name, size_t *nboot, size_t *kb)", "{",
        "    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++)",
        "        if (!strcmp(tabs[i].name, name)) {",
        "            *nboot = tabs[i].n, *kb = tabs[i].kb;", "            return tabs[i].b;",
        "        }", "    *nboot = *kb = 0;", "    return NULL;", "}", ""]
open("src/law/law_boot.c", "w").write("\n".join(out))
