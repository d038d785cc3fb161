/*
 * show.c: `cat`, `export` and `info`: a recording's content and summary.
 *
 * cat writes the exact recorded output (the bytes of "x" events where the
 * text had to be repaired) through the terminal-safe filter unless --raw;
 * export writes plain asciicast v2 any player accepts.  Neither may let a
 * recorded sequence act on the investigator's terminal beyond its screen.
 */
#include "replay.h"
#include "buf.h"
#include "visible.h"
#include "vt.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void cat_usage(FILE *f)
{
	fprintf(f,
		"usage: tandem-replay cat FILE [--raw]\n"
		"\n"
		"Writes everything the target sent, at once.  Sequences that "
		"act outside\nthe screen (clipboard, title, queries, links, "
		"file transfers) are\ndropped unless --raw.\n");
}

int rp_cmd_cat(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tdm_vt_filter *vt = NULL;
	struct tdm_castread *r;
	struct tdm_event ev;
	struct tdm_buf safe;
	int c, fd, raw = 0, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			raw = 1;
			break;
		case 'h':
			cat_usage(stdout);
			return 0;
		default:
			cat_usage(stderr);
			return RP_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		cat_usage(stderr);
		return RP_EXIT_USAGE;
	}
	if (rp_open(argv[optind], &fd, &r) < 0)
		return RP_EXIT_ERROR;
	tdm_buf_init(&safe, 0);
	if (!raw && tdm_vt_filter_new(&vt) < 0) {
		fprintf(stderr, "tandem-replay: out of memory\n");
		status = RP_EXIT_ERROR;
		goto out;
	}
	if (tdm_castread_header(r) == NULL)
		fprintf(stderr,
			"tandem-replay: warning: %s has no readable "
			"header\n",
			argv[optind]);
	while (tdm_castread_next(r, &ev) == 1) {
		if (ev.code != 'o')
			continue;
		if (raw) {
			if (rp_write_all(STDOUT_FILENO, ev.bytes, ev.len) < 0)
				goto write_failed;
			continue;
		}
		tdm_buf_reset(&safe);
		if (tdm_vt_filter(vt, ev.bytes, ev.len, &safe) < 0 ||
		    rp_write_all(STDOUT_FILENO, safe.data, safe.len) < 0)
			goto write_failed;
	}
	if (!raw) {
		tdm_buf_reset(&safe);
		if (tdm_vt_finish(vt, &safe) < 0 ||
		    rp_write_all(STDOUT_FILENO, safe.data, safe.len) < 0)
			goto write_failed;
		if (tdm_vt_dropped(vt) > 0)
			rp_note_dropped(vt);
	}
	rp_warn_integrity(argv[optind], r);
	goto out;
write_failed:
	if (errno != EPIPE)
		fprintf(stderr, "tandem-replay: cannot write output: %s\n",
			strerror(errno));
	status = RP_EXIT_ERROR;
out:
	tdm_vt_filter_free(vt);
	tdm_buf_free(&safe);
	rp_close(fd, r);
	return status;
}

/* ---- export ------------------------------------------------------------- */

static void export_usage(FILE *f)
{
	fprintf(f, "usage: tandem-replay export FILE -o OUT.cast\n"
		   "\n"
		   "Writes plain asciicast v2 (header, output, resizes and "
		   "markers) that\nasciinema and asciinema-player accept.  "
		   "Output is the recorded text as\nis (--raw is implied): a "
		   "player renders it in its own screen.\n");
}

/* `[SECONDS, "CODE", DATA]` with DATA encoded by jansson. */
static int export_event(struct tdm_buf *b, uint64_t t_us, char code,
			const char *text, size_t len)
{
	json_t *s = json_stringn(text, len);
	char *enc;
	int rc;

	if (s == NULL)
		return -1;
	enc = json_dumps(s, JSON_ENCODE_ANY);
	json_decref(s);
	if (enc == NULL)
		return -1;
	rc = tdm_buf_printf(b, "[%" PRIu64 ".%06" PRIu64 ", \"%c\", %s]\n",
			    t_us / 1000000, t_us % 1000000, code, enc);
	free(enc);
	return rc;
}

int rp_cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct tdm_rec_header *h;
	struct tdm_castread *r;
	struct tdm_event ev;
	struct tdm_buf b;
	const char *out = NULL, *tab;
	char *header;
	size_t len;
	int c, fd, out_fd = -1, status = RP_EXIT_ERROR;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'h':
			export_usage(stdout);
			return 0;
		default:
			export_usage(stderr);
			return RP_EXIT_USAGE;
		}
	}
	if (out == NULL || optind != argc - 1) {
		export_usage(stderr);
		return RP_EXIT_USAGE;
	}
	if (rp_open(argv[optind], &fd, &r) < 0)
		return RP_EXIT_ERROR;
	tdm_buf_init(&b, 0);
	h = tdm_castread_header(r);
	if (h == NULL) {
		fprintf(stderr,
			"tandem-replay: %s has no readable header; "
			"nothing to export\n",
			argv[optind]);
		goto out;
	}
	out_fd = strcmp(out, "-") == 0 ?
			 dup(STDOUT_FILENO) :
			 open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0640);
	if (out_fd < 0) {
		rp_say(stderr, "tandem-replay: cannot create %s: %s", out,
		       strerror(errno));
		goto out;
	}
	header = json_dumps(h->json, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (header == NULL || tdm_buf_printf(&b, "%s\n", header) < 0) {
		free(header);
		goto nomem;
	}
	free(header);
	while (tdm_castread_next(r, &ev) == 1) {
		len = ev.text_len;
		if (ev.code == 'm') {
			/* Players show the readable label, not the JSON. */
			tab = memrchr(ev.text, '\t', ev.text_len);
			if (tab != NULL)
				len = (size_t)(tab - ev.text);
		} else if (ev.code != 'o' && ev.code != 'r') {
			continue;
		}
		if (export_event(&b, ev.t_us, ev.code, ev.text, len) < 0)
			goto nomem;
		if (b.len >= 1u << 20) {
			if (rp_write_all(out_fd, b.data, b.len) < 0)
				goto write_failed;
			tdm_buf_reset(&b);
		}
	}
	if (rp_write_all(out_fd, b.data, b.len) < 0)
		goto write_failed;
	if (close(out_fd) < 0) {
		out_fd = -1;
		goto write_failed;
	}
	out_fd = -1;
	rp_warn_integrity(argv[optind], r);
	status = 0;
	goto out;
nomem:
	rp_say(stderr, "tandem-replay: out of memory exporting %s",
	       argv[optind]);
	goto out;
write_failed:
	rp_say(stderr, "tandem-replay: cannot write %s: %s", out,
	       strerror(errno));
out:
	if (out_fd >= 0)
		close(out_fd);
	tdm_buf_free(&b);
	rp_close(fd, r);
	return status;
}

/* ---- info --------------------------------------------------------------- */

static void info_usage(FILE *f)
{
	fprintf(f, "usage: tandem-replay info FILE\n\nThe header, a summary "
		   "of the events and the verify status.\n");
}

struct tally {
	uint64_t events[6]; /* o i r m x other */
	uint64_t bytes_out, bytes_in, decisions, last_us;
};

static void tally_event(struct tally *t, const struct tdm_event *ev)
{
	static const char codes[] = "oirmx";
	const char *at = strchr(codes, ev->code);
	json_t *m;

	t->events[at != NULL && ev->code != '\0' ? at - codes : 5]++;
	if (ev->exact)
		t->events[4]++;
	if (ev->t_us > t->last_us)
		t->last_us = ev->t_us;
	if (ev->code == 'o')
		t->bytes_out += ev->len;
	else if (ev->code == 'i')
		t->bytes_in += ev->len;
	else if (ev->code == 'm' && (m = rp_marker_json(ev)) != NULL) {
		if (json_is_string(json_object_get(m, "event")) &&
		    strcmp(json_string_value(json_object_get(m, "event")),
			   "decision") == 0)
			t->decisions++;
		json_decref(m);
	}
}

static void print_str(const char *label, const char *v)
{
	struct tdm_buf vis;

	tdm_buf_init(&vis, 0);
	if (v == NULL)
		printf("%-10s -\n", label);
	else if (tdm_visible((const uint8_t *)v, strlen(v), &vis) == 0)
		printf("%-10s %s\n", label, (const char *)vis.data);
	tdm_buf_free(&vis);
}

int rp_cmd_info(int argc, char **argv)
{
	const struct tdm_rec_header *h;
	struct tdm_castread *r;
	struct tdm_event ev;
	struct tdm_verify v;
	struct tally t = { 0 };
	char when[32], fp[TDM_FINGERPRINT_SIZE];
	const char *key, *val;
	struct tdm_buf vis;
	json_t *jv;
	int fd;

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		info_usage(stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		info_usage(stderr);
		return RP_EXIT_USAGE;
	}
	if (rp_open(argv[1], &fd, &r) < 0)
		return RP_EXIT_ERROR;
	tdm_buf_init(&vis, 0);
	h = tdm_castread_header(r);
	while (tdm_castread_next(r, &ev) == 1)
		tally_event(&t, &ev);
	rp_verdict(argv[1], r, rp_bastion_keys, &v);
	print_str("file", argv[1]);
	if (h != NULL) {
		rp_iso_time(h->timestamp, 0, when, sizeof(when));
		print_str("session", h->session);
		print_str("engineer", h->engineer);
		print_str("target", h->target);
		print_str("address", h->address);
		print_str("bastion", h->bastion);
		print_str("started", when);
		print_str("command", h->command);
		print_str("term", h->term);
		printf("%-10s %ux%u\n", "size", h->width, h->height);
		print_str("version", h->version);
		if (h->attrs != NULL) {
			printf("%-10s", "attrs");
			json_object_foreach (h->attrs, key, jv) {
				val = json_is_string(jv) ?
					      json_string_value(jv) :
					      "?";
				/* A tampered header may hold escapes. */
				tdm_buf_reset(&vis);
				if (tdm_visible((const uint8_t *)key,
						strlen(key), &vis) < 0 ||
				    tdm_buf_putc(&vis, '=') < 0 ||
				    tdm_visible((const uint8_t *)val,
						strlen(val), &vis) < 0)
					continue;
				printf(" %s", (const char *)vis.data);
			}
			printf("\n");
		}
		print_str("pubkey", h->pubkey);
	} else {
		printf("%-10s none readable\n", "header");
	}
	printf("%-10s %.3f s\n", "duration", (double)t.last_us / 1e6);
	printf("%-10s %llu bytes out, %llu bytes in\n", "bytes",
	       (unsigned long long)t.bytes_out, (unsigned long long)t.bytes_in);
	printf("%-10s %llu output, %llu input, %llu resize, %llu marker, "
	       "%llu exact-bytes, %llu other\n",
	       "events", (unsigned long long)t.events[0],
	       (unsigned long long)t.events[1], (unsigned long long)t.events[2],
	       (unsigned long long)t.events[3], (unsigned long long)t.events[4],
	       (unsigned long long)t.events[5]);
	printf("%-10s %llu\n", "decisions", (unsigned long long)t.decisions);
	printf("%-10s %llu (%llu data), %llu bytes, %llu links\n", "frames",
	       (unsigned long long)v.frames, (unsigned long long)v.data_frames,
	       (unsigned long long)v.file_bytes, (unsigned long long)v.links);
	switch (v.verdict) {
	case TDM_VERDICT_SEALED:
		tdm_pubkey_fingerprint(v.signer, fp);
		printf("%-10s sealed and intact, signed by %s (%s%s)\n",
		       "verify", fp,
		       rp_bastion_keys != NULL ? "trusted key from " :
						 "NOT PINNED: the key its own "
						 "header names",
		       rp_bastion_keys != NULL ? rp_bastion_keys_from : "");
		break;
	case TDM_VERDICT_UNSEALED:
		rp_say(stdout, "%-10s UNSEALED: %s", "verify", v.why);
		break;
	case TDM_VERDICT_TAMPERED:
		rp_say(stdout, "%-10s TAMPERED: %s", "verify", v.why);
		break;
	}
	if (tdm_castread_problems(r) > 0)
		rp_say(stdout, "%-10s %llu: %s", "problems",
		       (unsigned long long)tdm_castread_problems(r),
		       tdm_castread_problem(r));
	tdm_buf_free(&vis);
	rp_close(fd, r);
	return v.verdict == TDM_VERDICT_SEALED ? 0 : (int)v.verdict;
}
