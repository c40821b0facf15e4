#!/usr/bin/env python3
"""Render a terminal capture with ANSI colours (`tmux capture-pane -e -p`) to a PNG, cell by cell, in
DejaVu Sans Mono (it has the braille and block characters the dashboard's charts use).

    ansi2png.py capture.ans out.png [--cols 120] [--rows 36]

Needs Pillow (`pip install pillow`). Used by scripts/dashboard-image; not part of the build or CI.
"""
import argparse
import re

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 15
BG = (24, 24, 28)
FG = (215, 215, 215)
# The xterm 16-colour palette, a little softened.
PALETTE = [
    (40, 40, 40), (205, 60, 60), (80, 190, 90), (215, 185, 70), (75, 125, 215), (185, 90, 190), (70, 180, 190),
    (200, 200, 200), (110, 110, 110), (240, 95, 95), (120, 225, 120), (240, 215, 110), (110, 160, 240),
    (215, 130, 220), (110, 210, 220), (245, 245, 245),
]


def xterm256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    g = 8 + (n - 232) * 10
    return (g, g, g)


class Style:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None
        self.bg = None
        self.bold = self.dim = self.reverse = self.underline = self.strike = False

    def apply(self, params):
        it = iter(params or [0])
        for p in it:
            if p == 0:
                self.reset()
            elif p == 1:
                self.bold = True
            elif p == 2:
                self.dim = True
            elif p == 4:
                self.underline = True
            elif p == 7:
                self.reverse = True
            elif p == 9:
                self.strike = True
            elif p == 22:
                self.bold = self.dim = False
            elif p == 24:
                self.underline = False
            elif p == 27:
                self.reverse = False
            elif p == 29:
                self.strike = False
            elif 30 <= p <= 37:
                self.fg = PALETTE[p - 30]
            elif 90 <= p <= 97:
                self.fg = PALETTE[p - 90 + 8]
            elif 40 <= p <= 47:
                self.bg = PALETTE[p - 40]
            elif 100 <= p <= 107:
                self.bg = PALETTE[p - 100 + 8]
            elif p == 39:
                self.fg = None
            elif p == 49:
                self.bg = None
            elif p in (38, 48):
                kind = next(it, None)
                if kind == 5:
                    c = xterm256(next(it, 0))
                elif kind == 2:
                    c = (next(it, 0), next(it, 0), next(it, 0))
                else:
                    continue
                if p == 38:
                    self.fg = c
                else:
                    self.bg = c

    def colours(self):
        fg, bg = self.fg or FG, self.bg or BG
        if self.reverse:
            fg, bg = bg, fg
        if self.dim:
            fg = tuple((a + b) // 2 for a, b in zip(fg, bg))
        return fg, bg


SGR = re.compile(r"\x1b\[([0-9;]*)m")
OTHER = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b[()][0-9A-Za-z]")


def parse(text, cols, rows):
    """The screen as rows of (char, fg, bg, bold, underline, strike) cells."""
    style = Style()
    screen = []
    for line in text.split("\n")[:rows]:
        line = OTHER.sub("", line)
        cells = []
        pos = 0
        for m in SGR.finditer(line):
            for ch in line[pos:m.start()]:
                cells.append((ch, *style.colours(), style.bold, style.underline, style.strike))
            style.apply([int(x) for x in m.group(1).split(";") if x != ""])
            pos = m.end()
        for ch in line[pos:]:
            cells.append((ch, *style.colours(), style.bold, style.underline, style.strike))
        blank = (" ", *Style().colours(), False, False, False)
        screen.append((cells + [blank] * cols)[:cols])
    while len(screen) < rows:
        screen.append([(" ", FG, BG, False, False, False)] * cols)
    return screen


def render(screen, out):
    font = ImageFont.truetype(FONT, SIZE)
    bold = ImageFont.truetype(FONT_BOLD, SIZE)
    left, top, right, bottom = font.getbbox("█")
    cw = round(font.getlength("M"))
    ch = bottom - top + 3
    pad = 12
    img = Image.new("RGB", (len(screen[0]) * cw + 2 * pad, len(screen) * ch + 2 * pad), BG)
    d = ImageDraw.Draw(img)
    for y, row in enumerate(screen):
        for x, (c, fg, bg, b, u, s) in enumerate(row):
            px, py = pad + x * cw, pad + y * ch
            if bg != BG:
                d.rectangle([px, py, px + cw - 1, py + ch - 1], fill=bg)
            # Block elements fill their cell exactly (a font's glyph leaves gaps between rows).
            if "\u2581" <= c <= "\u2588":
                eighths = ord(c) - 0x2580
                d.rectangle([px, py + ch - ch * eighths // 8, px + cw - 1, py + ch - 1], fill=fg)
                continue
            if "\u2801" <= c <= "\u28ff":
                # Braille (the charts' lines), dot by dot: fonts that have it are rarely monospaced.
                bits = ord(c) - 0x2800
                dots = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)]
                r = max(1, cw // 7)
                for bit, (dx, dy) in enumerate(dots):
                    if bits & (1 << bit):
                        cx = px + cw * (1 + 2 * dx) // 4
                        cy = py + ch * (1 + 2 * dy) // 8
                        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
                continue
            if c == "▀":
                d.rectangle([px, py, px + cw - 1, py + ch // 2 - 1], fill=fg)
                continue
            if c != " ":
                d.text((px, py - top + 1), c, font=bold if b else font, fill=fg)
            if u:
                d.line([px, py + ch - 2, px + cw - 1, py + ch - 2], fill=fg)
            if s:
                d.line([px, py + ch // 2, px + cw - 1, py + ch // 2], fill=fg)
    img.save(out, optimize=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("out")
    ap.add_argument("--cols", type=int, default=120)
    ap.add_argument("--rows", type=int, default=36)
    a = ap.parse_args()
    with open(a.capture, encoding="utf-8", errors="replace") as f:
        text = f.read()
    render(parse(text, a.cols, a.rows), a.out)


if __name__ == "__main__":
    main()
