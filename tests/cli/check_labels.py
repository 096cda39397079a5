"""Checks a capmetric plot's labels (svg.c writes each as <text class="label">
with data-px, data-py: its point, data-w: its width): no two labels overlap,
none covers a point, every Pareto point's place has one (<g class="pareto">),
each sits next to its point (within 11 px of it: the
nearest ring of places, or with a leader line from the point, and never more
than 80 px away: the fifth ring's diagonal is 78 px). Coordinates are printed
to 0.1 px: boxes may touch within 0.5 px. Usage:
check_labels.py FILE.svg... ; prints what it checked, exits 1 on a problem."""
import re
import sys

NUM = r'"([-0-9.]+)"'


def boxes(svg):
    out = []
    for m in re.finditer(r'<text class="label" data-px=' + NUM + ' data-py=' + NUM +
                         ' data-w=' + NUM + ' x=' + NUM + ' y=' + NUM, svg):
        px, py, w, x, y = map(float, m.groups())
        out.append((px, py, (x, y - 11, x + w, y + 3)))  # 14 px high, baseline 3 px up
    return out


def dist(px, py, b):
    dx = max(b[0] - px, 0, px - b[2])
    dy = max(b[1] - py, 0, py - b[3])
    return (dx * dx + dy * dy) ** 0.5


def main():
    bad = 0
    for path in sys.argv[1:]:
        svg = open(path).read()
        labs = boxes(svg)
        leaders = {(float(a), float(b)) for a, b in
                   re.findall(r'<line class="leader" x1=' + NUM + ' y1=' + NUM, svg)}
        points = [(float(a), float(b)) for a, b in re.findall(r'<circle cx=' + NUM + ' cy=' + NUM, svg)]
        for i, (px, py, b) in enumerate(labs):
            d = dist(px, py, b)
            if d > 80 or (d > 11 and (px, py) not in leaders):
                print(f"{path}: label {i} is {d:.0f} px from its point"
                      f"{'' if (px, py) in leaders else ' without a leader'}")
                bad += 1
            for j in range(i):
                c = labs[j][2]
                e = 0.5
                if not (b[2] < c[0] + e or b[0] > c[2] - e or b[3] < c[1] + e or b[1] > c[3] - e):
                    print(f"{path}: labels {j} and {i} overlap")
                    bad += 1
            for qx, qy in points:  # the label of a point may touch it, not cover another
                if (qx, qy) != (px, py) and b[0] + 1 < qx < b[2] - 1 and b[1] + 1 < qy < b[3] - 1:
                    print(f"{path}: label {i} covers the point at ({qx}, {qy})")
                    bad += 1
        # every Pareto point's place has a label (or its number)
        places = {(float(a), float(b)) for a, b in
                  re.findall(r'<g class="pareto" data-px=' + NUM + ' data-py=' + NUM, svg)}
        unlabelled = places - {(px, py) for px, py, _ in labs}
        if unlabelled:
            print(f"{path}: {len(unlabelled)} Pareto places without a label, e.g. {min(unlabelled)}")
            bad += 1
        print(f"{path}: {len(labs)} labels for {len(places)} Pareto places checked")
    sys.exit(1 if bad else 0)


main()
