/* SVG scatter plots with labels that avoid each other. */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "svg.h"

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

/* Width in pixels of `s` at font size 12 in the renderer's sans-serif (DejaVu
 * Sans on Debian): advance widths by character class, rounded up from the
 * font's metrics (em units: i l . : , ' | 0.32; m w M W 0.98; other capitals
 * 0.75; = + < > 0.84; the rest, digits and lower case, 0.64). */
static double label_width(const char *s)
{
    double em = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (strchr("il.:,;'|!", c))
            em += 0.32;
        else if (strchr("mwMW", c))
            em += 0.98;
        else if (c >= 'A' && c <= 'Z')
            em += 0.75;
        else if (strchr("=+<>", c))
            em += 0.84;
        else
            em += 0.64;
    }
    return 12.0 * em;
}

typedef struct box {
    double x0, y0, x1, y1;
} box;

/* An SVG scatter plot of y (log or linear) against bits, Pareto points
 * filled and labelled (labels moved down until they overlap nothing),
 * optional reference curves. Returns a malloc'ed document. */
char *svg_plot(const double *xs, const double *ys, const char *const *plabel, size_t n,
               const int *pareto, const char *title, const char *ykey, int logy, const double *cx,
               const double *cy, size_t cn, const char *cname, int with_dr)
{
    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    if (!f)
        return NULL;
    const double W = 960, H = 600, L = 90, R = 250, T = 50, B = 70;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double x = xs[i], y = ys[i];
        if (!isfinite(x) || !isfinite(y) || (logy && !(y > 0)))
            continue;
        xmin = fmin(xmin, x);
        xmax = fmax(xmax, x);
        ymin = fmin(ymin, y);
        ymax = fmax(ymax, y);
    }
    if (!isfinite(xmin)) {
        xmin = 0;
        xmax = 16;
        ymin = logy ? 1e-6 : 0;
        ymax = 1;
    }
    xmin = floor(xmin) - 0.5;
    xmax = ceil(xmax) + 0.5;
    double ylo, yhi;
    if (logy) {
        ylo = floor(log10(ymin));
        yhi = ceil(log10(ymax));
        if (yhi <= ylo)
            yhi = ylo + 1;
    } else {
        ylo = 0;
        yhi = 1.05;
    }
#define PX(x) (L + ((x) - xmin) / (xmax - xmin) * (W - L - R))
#define PY(y) (H - B - ((logy ? log10(y) : (y)) - ylo) / (yhi - ylo) * (H - T - B))
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"28\" font-size=\"16\" text-anchor=\"middle\">", (W - R + L) / 2);
    xml_text(f, title);
    fprintf(f, "</text>\n");
    /* axes and grid */
    fprintf(f, "<g stroke=\"#ddd\">\n");
    for (double x = ceil(xmin); x <= xmax; x += 1)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PX(x), (double)T,
                PX(x), H - B);
    for (double y = ylo; y <= yhi + 1e-9; y += logy ? 1 : 0.1)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L,
                PY(logy ? pow(10, y) : y), W - R, PY(logy ? pow(10, y) : y));
    fprintf(f, "</g>\n<g stroke=\"black\"><line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>"
               "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/></g>\n",
            L, H - B, W - R, H - B, L, (double)T, L, H - B);
    for (double x = ceil(xmin); x <= xmax; x += 1)
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", PX(x),
                H - B + 18, x);
    for (double y = ylo; y <= yhi + 1e-9; y += logy ? 1 : 0.1) {
        if (logy)
            fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">1e%.0f</text>\n", L - 6,
                    PY(pow(10, y)) + 4, y);
        else
            fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", L - 6,
                    PY(y) + 4, y);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">bits per value</text>\n",
            (L + W - R) / 2, H - 20);
    fprintf(f, "<text x=\"22\" y=\"%.0f\" text-anchor=\"middle\" transform=\"rotate(-90 22 %.0f)\">",
            (T + H - B) / 2, (T + H - B) / 2);
    xml_text(f, logy ? "GMSE (log scale)" : ykey);
    fprintf(f, "</text>\n");
    /* reference curves */
    if (with_dr) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#2a7\" stroke-dasharray=\"6 4\" points=\"");
        for (double x = fmax(xmin, 0.1); x <= xmax; x += 0.05) {
            double y = exp2(-2 * x);
            if (log10(y) >= ylo && log10(y) <= yhi)
                fprintf(f, "%.1f,%.1f ", PX(x), PY(y));
        }
        fprintf(f, "\"/>\n");
    }
    if (cn) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#37c\" points=\"");
        for (size_t i = 0; i < cn; i++)
            if (cx[i] >= xmin && cx[i] <= xmax && (!logy || (log10(cy[i]) >= ylo && log10(cy[i]) <= yhi)))
                fprintf(f, "%.1f,%.1f ", PX(cx[i]), PY(cy[i]));
        fprintf(f, "\"/>\n");
    }
    /* points, then labels of the Pareto points */
    box *placed = calloc(n + 1, sizeof *placed);
    size_t np = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            double x = xs[i], y = ys[i];
            if (!isfinite(x) || !isfinite(y) || (logy && !(y > 0)))
                continue;
            if (pass == 0) {
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\" stroke=\"%s\"/>\n",
                        PX(x), PY(y), pareto[i] ? "4.5" : "3", pareto[i] ? "#d33" : "#999",
                        pareto[i] ? "#800" : "none");
                continue;
            }
            if (!pareto[i] || !placed)
                continue;
            const char *lab = plabel[i];
            double w = label_width(lab), px = PX(x), py = PY(y) + 4;
            /* nearest free place: right of the point, then alternately up and
             * down, then the same on the left */
            box bx = {px + 7, py - 11, px + 7 + w, py + 3};
            for (int tries = 0; tries < 80; tries++) {
                int k = tries % 40, side = tries / 40;
                double dy = (k % 2 ? -1.0 : 1.0) * 14.0 * (double)((k + 1) / 2);
                double x0 = side ? px - 7 - w : px + 7;
                box c = {x0, py - 11 + dy, x0 + w, py + 3 + dy};
                int clash = c.y0 < T || c.y1 > H - B || c.x1 > W - R - 2 || c.x0 < L + 2;
                for (size_t j = 0; j < np && !clash; j++)
                    clash = !(c.x1 < placed[j].x0 || c.x0 > placed[j].x1 || c.y1 < placed[j].y0 ||
                              c.y0 > placed[j].y1);
                if (!clash) {
                    bx = c;
                    break;
                }
            }
            placed[np++] = bx;
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#800\">", bx.x0, bx.y1 - 3);
            xml_text(f, lab);
            fprintf(f, "</text>\n");
        }
    free(placed);
    /* legend */
    double lx = W - R + 20, ly = T + 10;
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"220\" height=\"%d\" fill=\"white\" "
               "stroke=\"#888\"/>\n",
            lx - 8, ly - 14, 10 + 18 * (2 + (cn > 0) + with_dr));
    fprintf(f, "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"4.5\" fill=\"#d33\" stroke=\"#800\"/>"
               "<text x=\"%.0f\" y=\"%.0f\">Pareto optimal (labelled)</text>\n",
            lx, ly, lx + 12, ly + 4);
    ly += 18;
    fprintf(f, "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"3\" fill=\"#999\"/>"
               "<text x=\"%.0f\" y=\"%.0f\">other formats</text>\n",
            lx, ly, lx + 12, ly + 4);
    if (with_dr) {
        ly += 18;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#2a7\" "
                   "stroke-dasharray=\"6 4\"/><text x=\"%.0f\" y=\"%.0f\">Shannon D(R) = 2^-2R</text>\n",
                lx - 6, ly, lx + 6, ly, lx + 12, ly + 4);
    }
    if (cn) {
        ly += 18;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#37c\"/>"
                   "<text x=\"%.0f\" y=\"%.0f\">",
                lx - 6, ly, lx + 6, ly, lx + 12, ly + 4);
        xml_text(f, cname);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
    if (fclose(f))
        return NULL;
    return doc;
}
