"""tandem-replay search and index: the same results with the index, without
it, and with it out of date; incremental updates; the commands --json shape.

Recordings come from bench/gen_recordings.c (real writer, chain and seal).
"""
import json
import os
import sqlite3
import subprocess
import sys
import time
import unittest

from test_replay_play import BUILD, REPLAY, Recordings

FILTERS = [
    [],
    ["--command", "rm -rf"],
    ["--command", "^(cat|curl)"],
    ["--command", "iptables|shadow"],
    ["--command", "systemctl[[:space:]]+(stop|restart)", "--engineer", "alice"],
    ["--command", r"\x1b|\t"],
    ["--engineer", "carol", "--target", "db01"],
    ["--escort", "bob"],
    ["--since", "2023-06-01", "--until", "2023-06-30"],
    ["--since", "2024-01-01T00:00:00+02:00"],
    ["--until", "2023-03-15T12:30Z"],
    ["--attr", "country=UK", "--attr", "clearance=secret"],
    ["--json", "--command", "drop_caches"],
    # glibc's word anchors: no literal '<' or '>' for the index to require
    ["--command", r"\<tail -n [0-9]+\>"],
    # an interval before more text; optional parts; a set of literals
    ["--command", r"curl -s http://10\.0\.0\.[0-9]{1,3}/install\.sh"],
    ["--command", r"(stop|restart) (nginx|app[0-9]+)"],
    ["--command", r"cache1?[0-9]{2}$"],
]
# Filters that match in the recordings made here: a filter that matched
# nothing would pass with an index that found nothing.
MATCHING = {r"curl -s http://10\.0\.0\.[0-9]{1,3}/install\.sh",
            r"(stop|restart) (nginx|app[0-9]+)", "rm -rf", "iptables|shadow"}


def replay(*argv, check=True):
    p = subprocess.run([REPLAY] + list(argv), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{argv}: exit {p.returncode}: {p.stderr}")
    return p


class ReplaySearchTest(unittest.TestCase):
    def setUp(self):
        self.rec = Recordings()
        self.addCleanup(self.rec.close)
        self.paths = self.rec.make("rec", count=200, seed=9)
        self.dir = os.path.join(self.rec.dir, "rec")
        self.db = os.path.join(self.dir, ".tandem-index.sqlite")

    def same_results(self, note):
        for f in FILTERS:
            with self.subTest(filter=f, when=note):
                with_index = replay("search", self.dir, *f).stdout
                scanned = replay("search", self.dir, "--no-index", *f).stdout
                self.assertEqual(with_index, scanned)
                if len(f) == 2 and f[1] in MATCHING:
                    self.assertNotEqual(scanned, "")

    def test_search_gives_the_same_results_with_and_without_the_index(self):
        self.same_results("no index yet")
        self.assertFalse(os.path.exists(self.db))
        out = replay("index", self.dir).stdout
        self.assertIn("200 recordings, 200 read", out)
        self.same_results("fresh index")
        self.assertIn("tail -n", replay("search", self.dir, "--command", r"\<tail").stdout)
        everything = replay("search", self.dir).stdout.splitlines()
        self.assertGreater(len(everything), 200)
        self.assertEqual(everything, replay("commands", self.dir).stdout.splitlines())

    def test_search_reads_what_the_index_does_not_cover(self):
        replay("index", self.dir)
        # Changed, tampered, removed and new recordings after indexing.
        os.utime(self.paths[3], (time.time() + 5, time.time() + 5))
        with open(self.paths[7], "r+b") as f:
            f.seek(os.path.getsize(self.paths[7]) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 1]))
        os.unlink(self.paths[11])
        self.rec.make("rec", count=3, seed=77)
        self.same_results("stale index")
        out = replay("index", self.dir).stdout
        self.assertIn("202 recordings, 5 read", out)
        self.assertIn("1 removed", out)
        self.assertIn("0 read", replay("index", self.dir).stdout)
        self.same_results("updated index")

    def test_tampered_recording_is_flagged_in_results(self):
        replay("index", self.dir)
        victim = self.paths[20]
        with open(victim, "r+b") as f:
            # Inside the last data frame (before its link and the seal):
            # the decisions stay readable, the chain breaks.
            f.seek(os.path.getsize(victim) - 194 - 56 - 6)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x40]))
        replay("index", self.dir)
        p = replay("search", self.dir, "--json")
        rows = [json.loads(l) for l in p.stdout.splitlines()]
        hit = [r for r in rows if r["file"] == victim]
        self.assertTrue(hit)
        self.assertTrue(all(r["verify"] == "tampered" for r in hit))
        self.assertIn("TAMPERED", p.stderr)
        self.assertEqual(p.stdout, replay("search", self.dir, "--json",
                                          "--no-index").stdout)

    def test_json_has_the_commands_fields(self):
        replay("index", self.dir)
        rows = [json.loads(l) for l in
                replay("search", self.dir, "--json", "--escort", "bob").stdout.splitlines()]
        self.assertTrue(rows)
        want = [json.loads(l) for l in
                replay("commands", self.dir, "--json").stdout.splitlines()]
        self.assertEqual(list(rows[0].keys()), list(want[0].keys()))
        for key in ("time", "session", "seq", "engineer", "target", "escort",
                    "decision", "reason", "risks", "command"):
            self.assertIn(key, rows[0])
        self.assertTrue(all(r["escort"] == "bob" for r in rows))
        self.assertEqual(rows, [w for w in want if w["escort"] == "bob"])

    def test_dates_and_regex_mistakes_are_usage_errors_naming_the_fix(self):
        for argv, words in ((["--since", "2024-02-30"], "YYYY-MM-DD"),
                            (["--until", "yesterday"], "ISO 8601"),
                            (["--command", "("], "POSIX extended"),
                            (["--attr", "clearance"], "KEY=VALUE")):
            with self.subTest(argv=argv):
                p = replay("search", self.dir, *argv, check=False)
                self.assertEqual(p.returncode, 2)
                self.assertIn(words, p.stderr)

    def test_an_index_from_another_version_is_rebuilt(self):
        replay("index", self.dir)
        with sqlite3.connect(self.db) as db:
            db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
            db.execute("DELETE FROM commands")
        # search will not read it, and says how to rebuild it.
        p = replay("search", self.dir)
        self.assertIn("tandem-replay index", p.stderr)
        self.assertEqual(p.stdout, replay("search", self.dir, "--no-index").stdout)
        p = replay("index", self.dir)
        self.assertIn("another version of tandem; rebuilding it", p.stderr)
        self.assertIn("200 recordings, 200 read", p.stdout)
        self.assertNotIn("tandem-replay", replay("search", self.dir).stderr)
        self.same_results("rebuilt index")

    def test_a_database_that_is_not_an_index_is_left_alone(self):
        other = os.path.join(self.rec.dir, "accounts.sqlite")
        with sqlite3.connect(other) as db:
            db.execute("CREATE TABLE accounts(name TEXT)")
            db.execute("INSERT INTO accounts VALUES('alice')")
        before = open(other, "rb").read()
        p = replay("index", self.dir, "--db", other, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a tandem index", p.stderr)
        self.assertIn("--db FILE", p.stderr)
        self.assertEqual(open(other, "rb").read(), before)

    def test_a_decision_without_a_command_never_matches_a_command_filter(self):
        self.rec.make("bare", count=40, seed=3, commands=4, no_command_every=3)
        d = os.path.join(self.rec.dir, "bare")
        replay("index", d)
        for f in (["--command", "."], ["--command", "^"], ["--command", "rm"]):
            with self.subTest(filter=f):
                with_index = replay("search", d, *f).stdout
                self.assertEqual(with_index, replay("search", d, "--no-index", *f).stdout)
        # They are listed without a filter, the same both ways.
        everything = replay("search", d).stdout
        self.assertEqual(everything, replay("search", d, "--no-index").stdout)
        self.assertGreater(len(everything.splitlines()),
                           len(replay("search", d, "--command", "^").stdout.splitlines()))

    def test_index_in_an_unwritable_place_says_how_to_fix_it(self):
        p = replay("index", self.dir, "--db", "/proc/no/such/index.sqlite", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--db FILE", p.stderr)


class ReplayPathsTest(unittest.TestCase):
    """What investigators point tandem-replay at: links, FIFOs, odd names,
    nothing at all."""

    def setUp(self):
        self.rec = Recordings()
        self.addCleanup(self.rec.close)
        self.rec.make("rec", count=20, seed=3)
        self.dir = os.path.join(self.rec.dir, "rec")

    def test_a_directory_named_by_a_symbolic_link_is_read(self):
        link = os.path.join(self.rec.dir, "link")
        os.symlink(self.dir, link)
        want = replay("commands", self.dir).stdout
        self.assertGreater(len(want.splitlines()), 20)
        self.assertEqual(replay("commands", link).stdout, want)
        self.assertEqual(replay("verify", link).stdout.count("sealed and intact"), 20)
        self.assertEqual(replay("search", link, "--no-index").stdout, want)
        # The index, in the linked directory and at a linked --db path
        # (SQLite reads the link: the sandbox let it be killed).
        self.assertIn("20 recordings, 20 read", replay("index", link).stdout)
        self.assertEqual(replay("search", link).stdout, want)
        dbdir = os.path.join(self.rec.dir, "dbdir")
        os.mkdir(dbdir)
        dblink = os.path.join(self.rec.dir, "dblink")
        os.symlink(dbdir, dblink)
        db = os.path.join(dblink, "idx.sqlite")
        self.assertIn("20 read", replay("index", "--db", db, self.dir).stdout)
        self.assertEqual(replay("search", "--db", db, self.dir).stdout, want)
        # Below the directory named, links are not followed, and the
        # directories they point to are read all the same (a walk that
        # followed them skipped a directory it had met through a link).
        os.symlink(self.dir, os.path.join(self.dir, "loop"))
        for year in sorted(d for d in os.listdir(self.dir) if d.isdigit()):
            for name in ("0-" + year, "latest-" + year, "zz-" + year):
                os.symlink(os.path.join(self.dir, year), os.path.join(self.dir, name))
        self.assertEqual(replay("commands", self.dir).stdout, want)
        self.assertEqual(replay("commands", link).stdout, want)
        self.assertEqual(replay("commands", link + "/").stdout, want)
        self.assertEqual(replay("verify", link).stdout.count("sealed and intact"), 20)

    def test_a_fifo_named_like_a_recording_does_not_hang(self):
        fifo = os.path.join(self.dir, "zz.cast.zst")
        os.mkfifo(fifo)
        want = replay("commands", self.dir).stdout
        self.assertGreater(len(want.splitlines()), 20)
        for sub in ("verify", "search", "index"):
            replay(sub, self.dir)  # no timeout: the FIFO is passed over
        p = replay("commands", fifo, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is not a regular file", p.stderr)

    def test_an_index_made_with_db_is_not_readable_by_others(self):
        # It holds every command: as closed as the recordings, whatever
        # the umask of the investigator who made it.
        db = os.path.join(self.rec.dir, "elsewhere.sqlite")
        p = subprocess.run([REPLAY, "index", "--db", db, self.dir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           preexec_fn=lambda: os.umask(0o022), timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.stat(db).st_mode & 0o777, 0o640)

    def test_nothing_to_read_is_an_error_not_an_empty_answer(self):
        empty = os.path.join(self.rec.dir, "empty")
        os.mkdir(empty)
        for sub in (["commands"], ["search"], ["search", "--no-index"], ["verify"]):
            with self.subTest(sub=sub):
                p = replay(sub[0], empty, *sub[1:], check=False)
                self.assertEqual((p.returncode, p.stdout), (1, ""))
                self.assertIn("no recordings (*.cast.zst) found", p.stderr)

    def test_a_file_name_with_escapes_reaches_the_terminal_escaped(self):
        bad = os.path.join(self.dir, "x\x1b]2;PWNED\x07\x1b[2J.cast.zst")
        with open(bad, "wb") as f:
            f.write(b"not a recording")
        for sub in (["commands", self.dir], ["verify", self.dir], ["info", bad],
                    ["search", self.dir, "--no-index"], ["commands", bad + "-gone"]):
            with self.subTest(sub=sub[0]):
                p = subprocess.run([REPLAY] + sub, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=120)
                self.assertIn(b"PWNED", p.stdout + p.stderr)
                self.assertNotIn(b"\x1b", p.stdout + p.stderr)
                self.assertNotIn(b"\x07", p.stdout + p.stderr)


# A process's peak RSS counts what it shared with its parent before exec:
# forked from this test runner, which may have grown large, it would say
# little about the program.  A small interpreter forks it instead.
PEAK = """
import os, sys
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_rss(argv):
    """(exit status, peak resident KiB) of argv."""
    p = subprocess.run([sys.executable, "-c", PEAK] + argv, stdout=subprocess.PIPE,
                       text=True, check=True, timeout=600)
    rc, kb = p.stdout.split()
    return int(rc), int(kb)


class ReplayMemoryTest(unittest.TestCase):
    """A small file can hold gigabytes of decisions: they are read one at a
    time, never all kept."""

    def test_memory_does_not_grow_with_the_decisions_in_a_file(self):
        if os.path.basename(os.path.normpath(BUILD)) == "asan":
            self.skipTest("the sanitizer keeps freed memory in quarantine")
        rec = Recordings()
        self.addCleanup(rec.close)
        # 60 decisions of 1 MiB commands: a file of a few hundred KB.
        path = rec.make("big", count=1, seed=4, commands=60,
                        pad=1 << 20)[0]
        self.assertLess(os.path.getsize(path), 4 << 20)
        for sub in (["commands", "--json", path], ["search", path, "--command", "rm"],
                    ["index", os.path.dirname(os.path.dirname(os.path.dirname(
                        os.path.dirname(path))))]):
            with self.subTest(sub=sub[0]):
                rc, peak_kb = peak_rss([REPLAY] + sub)
                self.assertEqual(rc, 0, sub)
                # One entry at a time is a few MiB; all 60 kept is over 150.
                self.assertLess(peak_kb, 100 * 1024, sub)


class ReplaySearchLargeTest(unittest.TestCase):
    """Enough recordings that SQLite sorts a result larger than its cache:
    the sort must stay in memory, since the sandbox lets a reader create no
    file (it spilled to a temporary file, and seccomp killed search)."""

    def test_a_large_sorted_result_comes_from_the_index(self):
        rec = Recordings()
        self.addCleanup(rec.close)
        rec.make("rec", count=3000, seed=5)
        d = os.path.join(rec.dir, "rec")
        replay("index", d)
        for f in (["--command", "sys"], ["--command", "sys", "--json"]):
            with self.subTest(filter=f):
                p = replay("search", d, *f, check=False)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertGreater(len(p.stdout.splitlines()), 1000)
                self.assertEqual(p.stdout, replay("search", d, "--no-index", *f).stdout)


class PinnedKeys(unittest.TestCase):
    def test_every_subcommand_takes_the_bastion_key_and_says_when_none_is_pinned(self):
        # Anyone can make a chain and seal it with a key of their own; only
        # the bastion's key, pinned, tells its recordings from such a one.
        rec = Recordings()
        self.addCleanup(rec.close)
        good = rec.make("good", count=1, seed=3)[0]
        other = os.path.join(rec.dir, "other")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bastion1",
                        "-f", other], check=True)
        forged = subprocess.run([rec.gen, os.path.join(rec.dir, "forged"), "1", other,
                                 "--seed", "3"], check=True, stdout=subprocess.PIPE,
                                text=True).stdout.split()[0]
        pub = rec.key + ".pub"

        # Nothing pinned: the forgery reads as sealed, and each command
        # says what that is worth.
        self.assertIn("NOT PINNED", replay("info", forged).stdout)
        for argv in (["commands", forged], ["search", os.path.dirname(forged)]):
            p = replay(*argv)
            self.assertIn("header names", p.stderr)

        # The bastion's key before the subcommand: the forgery is refused
        # by every one of them, the real recording sealed.
        p = replay("--key", pub, "info", forged, check=False)
        self.assertIn("TAMPERED", p.stdout)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("trusted key from " + pub, replay("--key", pub, "info", good).stdout)
        for argv in (["commands", "--json"], ["search", "--json", "--no-index"]):
            bad = replay("--key", pub, *argv, forged, check=False)
            rows = [json.loads(l) for l in bad.stdout.splitlines()]
            self.assertTrue(rows, argv)
            self.assertTrue(all(r["verify"] == "tampered" for r in rows), rows[0])
            self.assertNotIn("header names", bad.stderr)
            ok = replay("--key", pub, *argv, good)
            rows = [json.loads(l) for l in ok.stdout.splitlines()]
            self.assertTrue(rows and all(r["verify"] == "sealed" for r in rows), argv)
            self.assertNotIn("header names", ok.stderr)
        self.assertEqual(replay("--key", pub, "verify", forged, check=False).returncode, 4)
        self.assertEqual(replay("--allowed-signers", "/dev/null", "verify", good,
                                check=False).returncode, 1)
        p = replay("--key", check=False)
        self.assertIn("--key needs a FILE", p.stderr)


if __name__ == "__main__":
    unittest.main()
