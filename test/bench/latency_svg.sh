#!/usr/bin/env bash
# latency_svg.sh - draw top-10 latency against row count as an SVG chart
# (log-log), from CSV lines "kind,plan,rows,ms" on stdin, to stdout.
# Argument: a note printed under the chart (date, machine, load).
# Used by test/bench/sql_scaling.sh; needs only awk.
set -euo pipefail
awk -F, -v note="${1:-}" '
function lx(v) { return log(v) / log(10) }
function px(v) { return L + (lx(v) - x0) / (x1 - x0) * W }
function py(v) { return T + H - (lx(v) - y0) / (y1 - y0) * H }
function fmt(v) { return v >= 1000000 ? v / 1000000 "M" : v >= 1000 ? v / 1000 "k" : v }
NF == 4 {
	key = $1 " " $2
	if (!(key in n)) { keys[++nk] = key }
	n[key]++; xs[key, n[key]] = $3; ys[key, n[key]] = $4
	if (xmin == "" || $3 < xmin) xmin = $3; if ($3 > xmax) xmax = $3
	if (ymin == "" || $4 < ymin) ymin = $4; if ($4 > ymax) ymax = $4
}
END {
	L = 70; T = 40; W = 560; H = 340
	x0 = int(lx(xmin)); if (lx(xmin) < x0) x0--; x1 = int(lx(xmax)); if (lx(xmax) > x1) x1++
	y0 = int(lx(ymin)); if (lx(ymin) < y0) y0--; y1 = int(lx(ymax)); if (lx(ymax) > y1) y1++
	if (x1 == x0) x1++; if (y1 == y0) y1++
	printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", L + W + 170, T + H + 70
	printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
	printf "<text x=\"%d\" y=\"22\" font-size=\"14\">top-10 latency: rsr index scan vs sequential scan (1024 dims, log-log)</text>\n", L
	for (e = x0; e <= x1; e++) {
		for (m = 1; m < 10 && e + lx(m) <= x1; m++) {
			x = L + (e + lx(m) - x0) / (x1 - x0) * W
			printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>\n", x, T, x, T + H, m == 1 ? "#bbb" : "#eee"
		}
		printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", L + (e - x0) / (x1 - x0) * W, T + H + 18, fmt(10 ^ e)
	}
	for (e = y0; e <= y1; e++) {
		for (m = 1; m < 10 && e + lx(m) <= y1; m++) {
			y = T + H - (e + lx(m) - y0) / (y1 - y0) * H
			printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>\n", L, y, L + W, y, m == 1 ? "#bbb" : "#eee"
		}
		printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", L - 6, T + H - (e - y0) / (y1 - y0) * H + 4, 10 ^ e
	}
	printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n", L, T, W, H
	printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">rows</text>\n", L + W / 2, T + H + 38
	printf "<text x=\"18\" y=\"%d\" transform=\"rotate(-90 18 %d)\" text-anchor=\"middle\">milliseconds</text>\n", T + H / 2, T + H / 2
	printf "<text x=\"%d\" y=\"%d\" fill=\"#555\">%s</text>\n", L, T + H + 58, note
	color["binary index"] = "#1f77b4"; color["binary seqscan"] = "#1f77b4"
	color["ternary index"] = "#d62728"; color["ternary seqscan"] = "#d62728"
	for (k = 1; k <= nk; k++) {
		key = keys[k]; dash = key ~ /seqscan/ ? " stroke-dasharray=\"6 4\"" : ""
		c = (key in color) ? color[key] : "black"
		pts = ""
		for (i = 1; i <= n[key]; i++) pts = pts sprintf("%.1f,%.1f ", px(xs[key, i]), py(ys[key, i]))
		printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", pts, c, dash
		for (i = 1; i <= n[key]; i++)
			printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(xs[key, i]), py(ys[key, i]), c
		ly = T + 20 + (k - 1) * 20
		printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", L + W + 15, ly, L + W + 45, ly, c, dash
		printf "<text x=\"%d\" y=\"%d\">%s</text>\n", L + W + 50, ly + 4, key
	}
	print "</svg>"
}'
