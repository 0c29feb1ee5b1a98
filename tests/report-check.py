#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Checks of a rendered bench report for tests/report-render.sh.

  report-check.py html FILE NSVG   the page is self-contained and has NSVG charts
  report-check.py csv FILE NCELLS  RFC 4180, a header and NCELLS rows of equal width
  report-check.py ci FILE          every p50 in the CSV has a 95% interval that contains it
  report-check.py png FILE         a screenshot with the charts drawn in it

Exit 0 when the check holds, 1 with the reasons on stdout otherwise.  Only the
standard library: the PNG decoder is a small one of our own.
"""
import csv
import html.parser
import struct
import sys
import zlib

# The method colours report.c gives stop, bp-cancel and bp-emulate.
METHOD_RGB = {"stop": (0x1f, 0x77, 0xb4), "bp-cancel": (0xd6, 0x27, 0x28),
              "bp-emulate": (0x2c, 0xa0, 0x2c)}
FORBIDDEN_TAGS = {"script", "link", "img", "iframe", "object", "embed", "image", "use",
                  "foreignobject", "audio", "video", "source", "base"}


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.svgs = 0
        self.problems = []
        self.stack = 0
        self.text = []

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self.svgs += 1
        if tag in FORBIDDEN_TAGS:
            self.problems.append("a <%s> element" % tag)
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name in ("src", "href", "xlink:href", "action", "data", "srcset", "poster"):
                self.problems.append("an external reference %s=%r" % (name, value))
            if name.startswith("on"):
                self.problems.append("an event handler %s" % name)
            if "url(" in value and not value.startswith("url(#"):
                self.problems.append("a url() in %s" % name)
            if name == "http-equiv":
                self.problems.append("a meta http-equiv")

    def handle_data(self, data):
        self.text.append(data)


def check_html(path, nsvg):
    doc = open(path, encoding="utf-8").read()
    p = Page()
    p.feed(doc)
    p.close()
    bad = list(p.problems)
    if p.svgs != nsvg:
        bad.append("%d <svg> charts, wanted %d" % (p.svgs, nsvg))
    style = doc[doc.find("<style>"):doc.find("</style>")]
    if "url(" in style or "@import" in style or "@font-face" in style:
        bad.append("the stylesheet loads something")
    if not doc.lstrip().lower().startswith("<!doctype html>"):
        bad.append("no doctype")
    if "</html>" not in doc:
        bad.append("truncated: no </html>")
    return bad


def check_csv(path, ncells):
    data = open(path, "rb").read()
    bad = []
    if data and not data.endswith(b"\r\n"):
        bad.append("the last line does not end in CRLF")
    rows = list(csv.reader(data.decode("utf-8").splitlines(keepends=True), strict=True))
    if not rows or rows[0][:3] != ["id", "group", "method"]:
        bad.append("no header row starting id,group,method")
        return bad
    if len(rows) != ncells + 1:
        bad.append("%d rows, wanted %d cells + the header" % (len(rows), ncells))
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        bad.append("rows of different widths: %s" % sorted(widths))
    for col in ("latency_ns_p50", "latency_rounds_p50", "sync_rounds_p50", "rollbacks_mean",
                "bp_traps_max", "max_stall_ns_p99", "faults", "kvm_exits", "hvpatch_exits"):
        if col not in rows[0]:
            bad.append("no column %s" % col)
    return bad


CI_STATS = ("latency_ns", "latency_rounds", "sync_rounds", "max_stall_ns")


def check_ci(path):
    rows = list(csv.DictReader(open(path, encoding="utf-8", newline="")))
    bad = []
    if not rows:
        return ["no rows"]
    for row in rows:
        for st in CI_STATS:
            try:
                p50 = float(row[st + "_p50"])
                lo = float(row[st + "_p50_ci_lo"])
                hi = float(row[st + "_p50_ci_hi"])
            except (KeyError, ValueError) as e:
                bad.append("%s: %s: no p50 or interval (%s)" % (row.get("id"), st, e))
                continue
            # latency_rounds' interval is latency_ns' scaled: allow for the rounding
            slack = 1e-9 * abs(p50)
            if not lo - slack <= p50 <= hi + slack:
                bad.append("%s: %s p50 %g outside its interval %g..%g" %
                           (row["id"], st, p50, lo, hi))
    return bad


def png_rows(path):
    d = open(path, "rb").read()
    if d[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, b""
    while pos < len(d):
        n, kind = struct.unpack(">I4s", d[pos:pos + 8])
        body = d[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("an unusual PNG (depth %d, colour type %d)" % (depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    i = 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        if f == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif f == 2:
            for x in range(stride):
                line[x] = (line[x] + prev[x]) & 255
        elif f == 3:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((a + prev[x]) >> 1)) & 255
        elif f == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        yield w, bpp, line
        prev = line


def check_png(path):
    colours = {}
    total = nonwhite = 0
    for w, bpp, line in png_rows(path):
        for x in range(0, w * bpp, bpp):
            rgb = (line[x], line[x + 1], line[x + 2])
            colours[rgb] = colours.get(rgb, 0) + 1
            total += 1
            nonwhite += rgb != (255, 255, 255)
    bad = []
    if total == 0:
        return ["an empty image"]
    if len(colours) < 16:
        bad.append("only %d colours: blank?" % len(colours))
    if nonwhite < total // 100:
        bad.append("%.2f%% of the pixels are not white: blank?" % (100.0 * nonwhite / total))
    for m, rgb in METHOD_RGB.items():
        if colours.get(rgb, 0) < 40:
            bad.append("%d pixels of %s's colour: its chart lines are not drawn" %
                       (colours.get(rgb, 0), m))
    print("# %d pixels, %d colours, %.1f%% not white" %
          (total, len(colours), 100.0 * nonwhite / total))
    return bad


def main():
    what, path = sys.argv[1], sys.argv[2]
    if what == "html":
        bad = check_html(path, int(sys.argv[3]))
    elif what == "csv":
        bad = check_csv(path, int(sys.argv[3]))
    elif what == "ci":
        bad = check_ci(path)
    elif what == "png":
        bad = check_png(path)
    else:
        print("unknown check %s" % what)
        return 2
    for b in bad:
        print("# " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
