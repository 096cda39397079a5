/* SVG plots: points coloured and marked by a key, Pareto labels placed next to
 * their points without overlaps (leader lines where they had to move). */
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
double svg_label_width(const char *s)
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

/* The plot's frame: canvas, margins and the data range on each axis. */
typedef struct frame {
    double W, H, L, R, T, B;
    double H0; /* the plot's own height; the numbered labels' list below it */
    double xmin, xmax, ylo, yhi;
    int logy, logx;
} frame;

static double xv(const frame *fr, double x) { return fr->logx ? log2(x) : x; }

static double px_of(const frame *fr, double x)
{
    return fr->L + (xv(fr, x) - fr->xmin) / (fr->xmax - fr->xmin) * (fr->W - fr->L - fr->R);
}

static double py_of(const frame *fr, double y)
{
    return fr->H - fr->B -
           ((fr->logy ? log10(y) : (y)) - fr->ylo) / (fr->yhi - fr->ylo) * (fr->H - fr->T - fr->B);
}

static int shown(const frame *fr, double x, double y)
{
    return isfinite(x) && isfinite(y) && (!fr->logy || y > 0) && (!fr->logx || x > 0);
}

/* the data range: whole bits (or whole octaves) on x, whole decades or 0..1.05 on y */
static void fit_frame(frame *fr, const double *xs, const double *ys, size_t n, int xbits,
                      int yfit)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!shown(fr, xs[i], ys[i]))
            continue;
        xmin = fmin(xmin, xv(fr, xs[i]));
        xmax = fmax(xmax, xv(fr, xs[i]));
        ymin = fmin(ymin, ys[i]);
        ymax = fmax(ymax, ys[i]);
    }
    if (!isfinite(xmin)) {
        xmin = 0;
        xmax = 16;
        ymin = fr->logy ? 1e-6 : 0;
        ymax = 1;
    }
    if (xbits || fr->logx) {
        fr->xmin = floor(xmin) - 0.5;
        fr->xmax = ceil(xmax) + 0.5;
    } else {
        double pad = xmax > xmin ? 0.05 * (xmax - xmin) : 1;
        fr->xmin = xmin - pad;
        fr->xmax = xmax + pad;
    }
    if (fr->logy) {
        fr->ylo = floor(log10(ymin));
        fr->yhi = ceil(log10(ymax));
        if (fr->yhi <= fr->ylo)
            fr->yhi = fr->ylo + 1;
    } else if (yfit) {
        fr->ylo = floor(ymin * 10) / 10;
        fr->yhi = fmax(fr->ylo + 0.1, ceil(ymax * 10) / 10);
    } else {
        fr->ylo = 0;
        fr->yhi = fmax(1.05, ymax * 1.05);
    }
}

/* x tick positions: whole bits, octaves, or about 8 round steps */
static double x_step(const frame *fr, int xbits)
{
    if (xbits || fr->logx)
        return 1;
    double span = fr->xmax - fr->xmin, st = pow(10, floor(log10(span / 8)));
    return span / st > 40 ? 5 * st : span / st > 16 ? 2 * st : st;
}

/* title, grid lines, axes, tick labels and axis names */
static void draw_axes(FILE *f, const frame *fr, const svg_opts *o, double canvas_h)
{
    const double W = fr->W, H = fr->H, L = fr->L, R = fr->R, T = fr->T, B = fr->B;
    const int logy = fr->logy;
    const double xs = x_step(fr, o->xbits), x0 = ceil(fr->xmin / xs) * xs;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, canvas_h, W, canvas_h);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", W,
            canvas_h);
    fprintf(f, "<text x=\"%.0f\" y=\"28\" font-size=\"16\" text-anchor=\"middle\">", (W - R + L) / 2);
    xml_text(f, o->title);
    fprintf(f, "</text>\n<g stroke=\"#ddd\">\n");
    for (double x = x0; x <= fr->xmax; x += xs)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                px_of(fr, fr->logx ? exp2(x) : x), (double)T, px_of(fr, fr->logx ? exp2(x) : x),
                H - B);
    for (double y = fr->ylo; y <= fr->yhi + 1e-9; y += logy ? 1 : 0.1)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L,
                py_of(fr, logy ? pow(10, y) : y), W - R, py_of(fr, logy ? pow(10, y) : y));
    fprintf(f, "</g>\n<g stroke=\"black\"><line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>"
               "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/></g>\n",
            L, H - B, W - R, H - B, L, (double)T, L, H - B);
    for (double x = x0; x <= fr->xmax; x += xs) {
        double v = fr->logx ? exp2(x) : fabs(x) < 1e-9 * xs ? 0.0 : x; /* (no "-0") */
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.10g</text>\n",
                px_of(fr, fr->logx ? exp2(x) : x), H - B + 18, v);
    }
    for (double y = fr->ylo; y <= fr->yhi + 1e-9; y += logy ? 1 : 0.1) {
        if (logy)
            fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">1e%.0f</text>\n", L - 6,
                    py_of(fr, pow(10, y)) + 4, y);
        else
            fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", L - 6,
                    py_of(fr, y) + 4, y);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">", (L + W - R) / 2, H - 20);
    xml_text(f, o->xlabel);
    fprintf(f, "</text>\n<text x=\"22\" y=\"%.0f\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 22 %.0f)\">",
            (T + H - B) / 2, (T + H - B) / 2);
    xml_text(f, o->ylabel);
    fprintf(f, "</text>\n");
}

/* the rate-distortion bound and a reference curve */
static void draw_curves(FILE *f, const frame *fr, const svg_opts *o)
{
    if (o->with_dr) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#2a7\" stroke-dasharray=\"6 4\" points=\"");
        for (double x = fmax(fr->xmin, 0.1); x <= fr->xmax; x += 0.05) {
            double y = exp2(-2 * x);
            if (log10(y) >= fr->ylo && log10(y) <= fr->yhi)
                fprintf(f, "%.1f,%.1f ", px_of(fr, x), py_of(fr, y));
        }
        fprintf(f, "\"/>\n");
    }
    if (o->cn) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#37c\" points=\"");
        for (size_t i = 0; i < o->cn; i++)
            if (o->cx[i] >= fr->xmin && o->cx[i] <= fr->xmax &&
                (!fr->logy || (log10(o->cy[i]) >= fr->ylo && log10(o->cy[i]) <= fr->yhi)))
                fprintf(f, "%.1f,%.1f ", px_of(fr, o->cx[i]), py_of(fr, o->cy[i]));
        fprintf(f, "\"/>\n");
    }
}

/* Tableau 10: distinguishable, also in grey print and for colour-blind readers */
static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
#define NPAL (sizeof palette / sizeof *palette)

/* one marker: 0 circle, 1 square, 2 triangle, 3 diamond, 4 down triangle, 5 cross */
static void marker(FILE *f, double x, double y, double r, int kind, const char *fill,
                   const char *stroke, int pareto)
{
    if (pareto) /* a Pareto point: tests find it by its place */
        fprintf(f, "<g class=\"pareto\" data-px=\"%.1f\" data-py=\"%.1f\">", x, y);
    switch (kind % 6) {
    case 0:
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"", x, y, r);
        break;
    case 1:
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"", x - r, y - r,
                2 * r, 2 * r);
        break;
    case 2:
        fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"", x, y - 1.3 * r,
                x - 1.2 * r, y + r, x + 1.2 * r, y + r);
        break;
    case 3:
        fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\"", x, y - 1.3 * r,
                x + 1.3 * r, y, x, y + 1.3 * r, x - 1.3 * r, y);
        break;
    case 4:
        fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"", x, y + 1.3 * r,
                x - 1.2 * r, y - r, x + 1.2 * r, y - r);
        break;
    default:
        fprintf(f, "<path d=\"M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f\" stroke-width=\"2\"",
                x - r, y - r, x + r, y + r, x - r, y + r, x + r, y - r);
        fill = "none";
        stroke = stroke[0] == 'n' ? "#555" : stroke;
        break;
    }
    fprintf(f, " fill=\"%s\" stroke=\"%s\"/>%s\n", fill, stroke, pareto ? "</g>" : "");
}

static int clashes(const box *c, const box *b, size_t nb)
{
    for (size_t j = 0; j < nb; j++)
        if (!(c->x1 < b[j].x0 || c->x0 > b[j].x1 || c->y1 < b[j].y0 || c->y0 > b[j].y1))
            return 1;
    return 0;
}

/* A label's place near its point (px, py): the nearest of rings of positions
 * around it (right, left, above, below, then the diagonals, at growing
 * distance) that overlaps no placed label and no point and stays inside the
 * plot; *far when it is not next to the point (a leader line is drawn). */
static int place_label(const frame *fr, double px, double py, double w, const box *taken,
                       size_t nt, int *far, box *out)
{
    static const double dir[8][2] = {{1, 0}, {-1, 0}, {0, -1}, {0, 1},
                                     {1, -1}, {1, 1}, {-1, -1}, {-1, 1}};
    const double h = 14;
    for (int ring = 0; ring < 5; ring++) { /* within ~55 px, else a number */
        double r = 7 + 12 * ring;
        for (int k = 0; k < 8; k++) {
            double cx = px + dir[k][0] * r, cy = py + dir[k][1] * r;
            double x0 = dir[k][0] > 0 ? cx : dir[k][0] < 0 ? cx - w : cx - w / 2;
            double y0 = dir[k][1] > 0 ? cy : dir[k][1] < 0 ? cy - h : cy - h / 2;
            box c = {x0, y0, x0 + w, y0 + h};
            if (c.y0 < fr->T || c.y1 > fr->H - fr->B || c.x1 > fr->W - fr->R - 2 ||
                c.x0 < fr->L + 2 || clashes(&c, taken, nt))
                continue;
            *far = ring > 0;
            *out = c;
            return 1;
        }
    }
    return 0;
}

static const char *color_of(const svg_opts *o, size_t i, int pareto)
{
    if (!o->color)
        return pareto ? "#d33" : "#999";
    return palette[(size_t)o->color[i] % NPAL];
}

/* each series' points joined in x order */
static void draw_lines(FILE *f, const frame *fr, const double *xs, const double *ys, size_t n,
                       const svg_opts *o)
{
    size_t *ord = malloc((n ? n : 1) * sizeof *ord);
    for (size_t c = 0; ord && c < o->nseries; c++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if ((size_t)o->series[i] == c && shown(fr, xs[i], ys[i]))
                ord[m++] = i;
        if (m < 2)
            continue;
        for (size_t a = 1; a < m; a++) /* insertion sort by x */
            for (size_t b = a; b > 0 && xs[ord[b]] < xs[ord[b - 1]]; b--) {
                size_t t = ord[b];
                ord[b] = ord[b - 1];
                ord[b - 1] = t;
            }
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\" "
                   "stroke-opacity=\"0.8\" points=\"",
                color_of(o, ord[0], 0));
        for (size_t a = 0; a < m; a++)
            fprintf(f, "%.1f,%.1f ", px_of(fr, xs[ord[a]]), py_of(fr, ys[ord[a]]));
        fprintf(f, "\"/>\n");
    }
    free(ord);
}

/* the points, then one label per place of Pareto points */
static size_t draw_points(FILE *f, const frame *fr, const double *xs, const double *ys,
                          const char *const *plabel, size_t n, const int *pareto,
                          const svg_opts *o, char **nums)
{
    box *taken = calloc(2 * n + 1, sizeof *taken);
    size_t nt = 0, nnum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!shown(fr, xs[i], ys[i]))
            continue;
        int p = pareto && pareto[i];
        double x = px_of(fr, xs[i]), y = py_of(fr, ys[i]), r = p ? 4.5 : 3.2;
        marker(f, x, y, r, o->marker ? o->marker[i] : 0, color_of(o, i, p),
               p ? (o->color ? "#000" : "#800") : "none", p);
        if (taken) {
            box b = {x - r - 1, y - r - 1, x + r + 1, y + r + 1};
            taken[nt++] = b;
        }
    }
    for (size_t i = 0; taken && pareto && i < n; i++) {
        if (!pareto[i] || !shown(fr, xs[i], ys[i]))
            continue;
        double x = px_of(fr, xs[i]), y = py_of(fr, ys[i]);
        int first = 1;
        for (size_t j = 0; j < i && first; j++) /* the place's first Pareto point labels it */
            first = !(pareto[j] && px_of(fr, xs[j]) == x && py_of(fr, ys[j]) == y);
        if (!first)
            continue;
        char lab[512];
        snprintf(lab, sizeof lab, "%s", plabel[i]);
        for (size_t j = i + 1; j < n; j++)
            if (pareto[j] && px_of(fr, xs[j]) == x && py_of(fr, ys[j]) == y &&
                strlen(lab) + strlen(plabel[j]) + 4 < sizeof lab) {
                strcat(lab, " = ");
                strcat(lab, plabel[j]);
            }
        double w = svg_label_width(lab);
        int far = 0;
        box bx;
        if (!place_label(fr, x, y, w, taken, nt, &far, &bx)) {
            /* no room: a number here, the label in the list under the plot */
            if (nnum < 999 && (nums[nnum] = strdup(lab))) {
                snprintf(lab, sizeof lab, "%zu", ++nnum);
                w = svg_label_width(lab);
            }
            if (!place_label(fr, x, y, w, taken, nt, &far, &bx)) {
                if (nnum && lab[0] >= '0' && lab[0] <= '9')
                    free(nums[--nnum]); /* not even a number fits: the point stays bare */
                continue;
            }
        }
        taken[nt++] = bx;
        if (far) { /* a leader from the point to the label's nearest edge */
            double ex = x < bx.x0 ? bx.x0 : x > bx.x1 ? bx.x1 : x;
            double ey = y < bx.y0 ? bx.y0 : y > bx.y1 ? bx.y1 : y;
            fprintf(f, "<line class=\"leader\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                       "stroke=\"#666\" stroke-width=\"1\"/>\n",
                    x, y, ex, ey);
        }        fprintf(f, "<text class=\"label\" data-px=\"%.1f\" data-py=\"%.1f\" data-w=\"%.1f\" "
                   "x=\"%.1f\" y=\"%.1f\" fill=\"%s\">",
                x, y, w, bx.x0, bx.y1 - 3, o->color ? "#222" : "#800");
        xml_text(f, lab);
        fprintf(f, "</text>\n");
    }
    free(taken);
    return nnum;
}

/* the list of numbered labels: columns of width *colw that fit the canvas */
static size_t number_cols(const frame *fr, char *const *nums, size_t nn, double *colw)
{
    *colw = 40;
    for (size_t k = 0; k < nn; k++)
        *colw = fmax(*colw, svg_label_width(nums[k]) + 40);
    double c = floor((fr->W - 40) / *colw);
    return c >= 1 && c <= 64 ? (size_t)c : 1;
}

/* the numbered labels, in columns under the plot */
static void draw_numbers(FILE *f, const frame *fr, char **nums, size_t nn)
{
    double colw;
    size_t cols = number_cols(fr, nums, nn, &colw);
    for (size_t k = 0; k < nn; k++) {
        double x = 20 + (double)(k % cols) * colw, y = fr->H0 + 16 + 16 * (double)(k / cols);
        fprintf(f, "<text class=\"numbered\" x=\"%.0f\" y=\"%.0f\" fill=\"#222\">%zu: ", x, y,
                k + 1);
        xml_text(f, nums[k]);
        fprintf(f, "</text>\n");
    }
}

static void legend_row(FILE *f, double lx, double *ly, const char *text)
{
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">", lx + 12, *ly + 4);
    xml_text(f, text);
    fprintf(f, "</text>\n");
    *ly += 18;
}

static void draw_legend(FILE *f, const frame *fr, const svg_opts *o)
{
    double lx = fr->W - fr->R + 20, ly = fr->T + 10;
    size_t rows = (o->points_name ? 1 : 2) + (size_t)(o->cn > 0) + (size_t)(o->with_dr != 0) + (o->color ? o->ncolor + 1 : 0) +
                  (o->marker ? o->nmarker + 1 : 0);
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%zu\" fill=\"white\" "
               "stroke=\"#888\"/>\n",
            lx - 8, ly - 14, fr->R - 30, 10 + 18 * rows);
    if (o->points_name) {
        marker(f, lx, ly, 3.2, 0, o->color ? "#ccc" : "#999", "none", 0);
        legend_row(f, lx, &ly, o->points_name);
    } else {
        marker(f, lx, ly, 4.5, 0, o->color ? "#fff" : "#d33", o->color ? "#000" : "#800", 0);
        legend_row(f, lx, &ly, "Pareto optimal (labelled)");
        marker(f, lx, ly, 3.2, 0, o->color ? "#ccc" : "#999", "none", 0);
        legend_row(f, lx, &ly, "other formats");
    }
    if (o->with_dr) {
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#2a7\" "
                   "stroke-dasharray=\"6 4\"/>\n", lx - 6, ly, lx + 6, ly);
        legend_row(f, lx, &ly, "Shannon D(R) = 2^-2R");
    }
    if (o->cn) {
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#37c\"/>\n",
                lx - 6, ly, lx + 6, ly);
        legend_row(f, lx, &ly, o->cname);
    }
    char head[160];
    if (o->color) {
        snprintf(head, sizeof head, "colour: %s", o->color_key);
        legend_row(f, lx - 12, &ly, head);
        for (size_t c = 0; c < o->ncolor; c++) {
            marker(f, lx, ly, 4, 1, palette[c % NPAL], "none", 0);
            legend_row(f, lx, &ly, o->color_name[c]);
        }
    }
    if (o->marker) {
        snprintf(head, sizeof head, "marker: %s", o->marker_key);
        legend_row(f, lx - 12, &ly, head);
        for (size_t c = 0; c < o->nmarker; c++) {
            marker(f, lx, ly, 4, (int)c, "#777", "none", 0);
            legend_row(f, lx, &ly, o->marker_name[c]);
        }
    }
}

char *svg_plot(const double *xs, const double *ys, const char *const *plabel, size_t n,
               const int *pareto, const svg_opts *o)
{
    size_t rows = 4 + (o->color ? o->ncolor + 1 : 0) + (o->marker ? o->nmarker + 1 : 0);
    frame fr = {.W = 960, .H = 600, .L = 90, .R = 250, .T = 50, .B = 70, .logy = o->logy,
                .logx = o->logx};
    if (fr.H < 80 + 18.0 * (double)rows)
        fr.H = 80 + 18.0 * (double)rows;
    fr.H0 = fr.H;
    fit_frame(&fr, xs, ys, n, o->xbits, o->yfit);
    /* the body first (the numbered list's length decides the canvas' height) */
    char *body = NULL, *doc = NULL;
    size_t blen = 0, len = 0;
    char **nums = calloc(1000, sizeof *nums);
    FILE *b = nums ? open_memstream(&body, &blen) : NULL;
    if (!b) {
        free(nums);
        return NULL;
    }
    draw_curves(b, &fr, o);
    if (o->series)
        draw_lines(b, &fr, xs, ys, n, o);
    size_t nn = draw_points(b, &fr, xs, ys, plabel, n, pareto, o, nums);
    draw_legend(b, &fr, o);
    draw_numbers(b, &fr, nums, nn);
    int bad = fclose(b) != 0;
    double colw;
    size_t cols = number_cols(&fr, nums, nn, &colw);
    double canvas_h = fr.H0 + (nn ? 24 + 16 * (double)((nn + cols - 1) / cols) : 0);
    FILE *f = bad ? NULL : open_memstream(&doc, &len);
    if (f) {
        draw_axes(f, &fr, o, canvas_h);
        fputs(body, f);
        fprintf(f, "</svg>\n");
        if (fclose(f)) {
            free(doc);
            doc = NULL;
        }
    }
    for (size_t k = 0; k < nn; k++)
        free(nums[k]);
    free(nums);
    free(body);
    return doc;
}
