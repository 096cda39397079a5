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
/* The plot's frame: canvas, margins and the data range on each axis. */
typedef struct frame {
    double W, H, L, R, T, B;
    double xmin, xmax, ylo, yhi;
    int logy;
} frame;

static double px_of(const frame *fr, double x)
{
    return fr->L + (x - fr->xmin) / (fr->xmax - fr->xmin) * (fr->W - fr->L - fr->R);
}

static double py_of(const frame *fr, double y)
{
    return fr->H - fr->B -
           ((fr->logy ? log10(y) : (y)) - fr->ylo) / (fr->yhi - fr->ylo) * (fr->H - fr->T - fr->B);
}

/* the data range, rounded out to whole bits and whole decades */
static void fit_frame(frame *fr, const double *xs, const double *ys, size_t n)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double x = xs[i], y = ys[i];
        if (!isfinite(x) || !isfinite(y) || (fr->logy && !(y > 0)))
            continue;
        xmin = fmin(xmin, x);
        xmax = fmax(xmax, x);
        ymin = fmin(ymin, y);
        ymax = fmax(ymax, y);
    }
    if (!isfinite(xmin)) {
        xmin = 0;
        xmax = 16;
        ymin = fr->logy ? 1e-6 : 0;
        ymax = 1;
    }
    fr->xmin = floor(xmin) - 0.5;
    fr->xmax = ceil(xmax) + 0.5;
    if (fr->logy) {
        fr->ylo = floor(log10(ymin));
        fr->yhi = ceil(log10(ymax));
        if (fr->yhi <= fr->ylo)
            fr->yhi = fr->ylo + 1;
    } else {
        fr->ylo = 0;
        fr->yhi = 1.05;
    }
}

/* title, grid lines, axes, tick labels and axis names */
static void draw_axes(FILE *f, const frame *fr, const char *title, const char *ykey)
{
    const double W = fr->W, H = fr->H, L = fr->L, R = fr->R, T = fr->T, B = fr->B;
    const int logy = fr->logy;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"28\" font-size=\"16\" text-anchor=\"middle\">", (W - R + L) / 2);
    xml_text(f, title);
    fprintf(f, "</text>\n");
    fprintf(f, "<g stroke=\"#ddd\">\n");
    for (double x = ceil(fr->xmin); x <= fr->xmax; x += 1)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px_of(fr, x),
                (double)T, px_of(fr, x), H - B);
    for (double y = fr->ylo; y <= fr->yhi + 1e-9; y += logy ? 1 : 0.1)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L,
                py_of(fr, logy ? pow(10, y) : y), W - R, py_of(fr, logy ? pow(10, y) : y));
    fprintf(f, "</g>\n<g stroke=\"black\"><line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>"
               "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/></g>\n",
            L, H - B, W - R, H - B, L, (double)T, L, H - B);
    for (double x = ceil(fr->xmin); x <= fr->xmax; x += 1)
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n",
                px_of(fr, x), H - B + 18, x);
    for (double y = fr->ylo; y <= fr->yhi + 1e-9; y += logy ? 1 : 0.1) {
        if (logy)
            fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">1e%.0f</text>\n", L - 6,
                    py_of(fr, pow(10, y)) + 4, y);
        else
            fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", L - 6,
                    py_of(fr, y) + 4, y);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">bits per value</text>\n",
            (L + W - R) / 2, H - 20);
    fprintf(f, "<text x=\"22\" y=\"%.0f\" text-anchor=\"middle\" transform=\"rotate(-90 22 %.0f)\">",
            (T + H - B) / 2, (T + H - B) / 2);
    xml_text(f, logy ? "GMSE (log scale)" : ykey);
    fprintf(f, "</text>\n");
}

/* the rate-distortion bound and a reference curve */
static void draw_curves(FILE *f, const frame *fr, const double *cx, const double *cy, size_t cn,
                        int with_dr)
{
    if (with_dr) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#2a7\" stroke-dasharray=\"6 4\" points=\"");
        for (double x = fmax(fr->xmin, 0.1); x <= fr->xmax; x += 0.05) {
            double y = exp2(-2 * x);
            if (log10(y) >= fr->ylo && log10(y) <= fr->yhi)
                fprintf(f, "%.1f,%.1f ", px_of(fr, x), py_of(fr, y));
        }
        fprintf(f, "\"/>\n");
    }
    if (cn) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#37c\" points=\"");
        for (size_t i = 0; i < cn; i++)
            if (cx[i] >= fr->xmin && cx[i] <= fr->xmax &&
                (!fr->logy || (log10(cy[i]) >= fr->ylo && log10(cy[i]) <= fr->yhi)))
                fprintf(f, "%.1f,%.1f ", px_of(fr, cx[i]), py_of(fr, cy[i]));
        fprintf(f, "\"/>\n");
    }
}

/* A label's place near its point (px, py): right of the point, then
 * alternately up and down, then the same on the left; the first that
 * overlaps no placed label and stays inside the plot. */
static box place_label(const frame *fr, double px, double py, double w, const box *placed,
                       size_t np)
{
    box bx = {px + 7, py - 11, px + 7 + w, py + 3};
    for (int tries = 0; tries < 80; tries++) {
        int k = tries % 40, side = tries / 40;
        double dy = (k % 2 ? -1.0 : 1.0) * 14.0 * (double)((k + 1) / 2);
        double x0 = side ? px - 7 - w : px + 7;
        box c = {x0, py - 11 + dy, x0 + w, py + 3 + dy};
        int clash = c.y0 < fr->T || c.y1 > fr->H - fr->B || c.x1 > fr->W - fr->R - 2 ||
                    c.x0 < fr->L + 2;
        for (size_t j = 0; j < np && !clash; j++)
            clash = !(c.x1 < placed[j].x0 || c.x0 > placed[j].x1 || c.y1 < placed[j].y0 ||
                      c.y0 > placed[j].y1);
        if (!clash)
            return c;
    }
    return bx;
}

/* the points, then labels of the Pareto points */
static void draw_points(FILE *f, const frame *fr, const double *xs, const double *ys,
                        const char *const *plabel, size_t n, const int *pareto)
{
    box *placed = calloc(n + 1, sizeof *placed);
    size_t np = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            double x = xs[i], y = ys[i];
            if (!isfinite(x) || !isfinite(y) || (fr->logy && !(y > 0)))
                continue;
            if (pass == 0) {
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\" stroke=\"%s\"/>\n",
                        px_of(fr, x), py_of(fr, y), pareto[i] ? "4.5" : "3",
                        pareto[i] ? "#d33" : "#999", pareto[i] ? "#800" : "none");
                continue;
            }
            if (!pareto[i] || !placed)
                continue;
            const char *lab = plabel[i];
            box bx = place_label(fr, px_of(fr, x), py_of(fr, y) + 4, label_width(lab), placed, np);
            placed[np++] = bx;
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#800\">", bx.x0, bx.y1 - 3);
            xml_text(f, lab);
            fprintf(f, "</text>\n");
        }
    free(placed);
}

static void draw_legend(FILE *f, const frame *fr, size_t cn, const char *cname, int with_dr)
{
    double lx = fr->W - fr->R + 20, ly = fr->T + 10;
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
}

char *svg_plot(const double *xs, const double *ys, const char *const *plabel, size_t n,
               const int *pareto, const char *title, const char *ykey, int logy, const double *cx,
               const double *cy, size_t cn, const char *cname, int with_dr)
{
    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    if (!f)
        return NULL;
    frame fr = {.W = 960, .H = 600, .L = 90, .R = 250, .T = 50, .B = 70, .logy = logy};
    fit_frame(&fr, xs, ys, n);
    draw_axes(f, &fr, title, ykey);
    draw_curves(f, &fr, cx, cy, cn, with_dr);
    draw_points(f, &fr, xs, ys, plabel, n, pareto);
    draw_legend(f, &fr, cn, cname, with_dr);
    fprintf(f, "</svg>\n");
    if (fclose(f))
        return NULL;
    return doc;
}
