/*
 * vt.c: the terminal-safe filter for recorded output; see vt.h.
 *
 * The parser is Paul Williams' DEC ANSI parser (vt100.net/emu/dec_ansi_
 * parser), the one tmux's input.c implements: one table of transitions per
 * state, each a byte range with an action and a next state, plus the
 * "anywhere" transitions (CAN, SUB, ESC and the C1 controls) that apply in
 * every state.  It reads code points, not bytes: UTF-8 is decoded first, so
 * a C1 control spelt in UTF-8 (U+009B) is a C1 control, as xterm takes it,
 * and a raw byte 0x80..0x9f that is not part of a UTF-8 character is one
 * too.  Sequences are held (bounded) until their final byte, then passed on
 * whole or dropped whole.
 *
 * This file must never pass on a sequence that is not on the allowlists
 * below (esc_allowed, csi_keep), any C1 control, or a C0 control other
 * than BS, HT, LF, VT, FF, CR, SO and SI: everything the investigator's
 * terminal could answer, store, open or run starts with one of those.
 */
#include "vt.h"
#include "err.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum vt_state {
	S_GROUND,
	S_ESCAPE,
	S_ESC_INTER,
	S_CSI_ENTRY,
	S_CSI_PARAM,
	S_CSI_INTER,
	S_CSI_IGNORE,
	S_DCS_ENTRY,
	S_DCS_PARAM,
	S_DCS_INTER,
	S_DCS_PASS,
	S_DCS_IGNORE,
	S_OSC,
	S_SOS_PM_APC,
	S_ZMODEM, /* after "**" CAN: not in the DEC table */
	S_COUNT,
	S_SAME = S_COUNT, /* in a transition: stay */
};

enum vt_action {
	A_IGNORE,    /* consume silently (inside a sequence) */
	A_PRINT,     /* a character for the screen */
	A_EXECUTE,   /* a C0 control */
	A_CAN,	     /* CAN: aborts; after "*" starts ZMODEM */
	A_ESC_START, /* ESC: a new sequence */
	A_COLLECT,   /* intermediate or private marker */
	A_PARAM,     /* parameter byte */
	A_ESC_DISPATCH,
	A_CSI_START, /* ESC [ */
	A_CSI_DISPATCH,
	A_CSI_DROP,	/* final byte of a malformed CSI */
	A_STRING_START, /* ESC P, ESC ], ESC X, ESC ^, ESC _ */
	A_STRING_END,	/* BEL ending an OSC */
	A_C1,		/* a C1 control on its own */
	A_C1_START,	/* a C1 control that starts a sequence */
	A_ST,		/* C1 ST: ends a string, else a stray C1 */
	A_ABORT_PRINT,	/* text inside ESC: drop the ESC, show it */
};

struct transition {
	uint16_t first, last; /* code points; CLS_HIGH: U+00A0 and up */
	uint8_t action;
	uint8_t next;
};

/* Code points from U+00A0 (and bytes that are not UTF-8) share a class. */
#define CLS_HIGH 0xa0
#define NCLS (CLS_HIGH + 1)
#define END                \
	{                  \
		0, 0, 0, 0 \
	}

#define C0_EXEC(a)                                            \
	{ 0x00, 0x17, a, S_SAME }, { 0x19, 0x19, a, S_SAME }, \
	{                                                     \
		0x1c, 0x1f, a, S_SAME                         \
	}

/* Apply in every state (DEC: "anywhere"). */
static const struct transition t_anywhere[] = {
	{ 0x18, 0x18, A_CAN, S_GROUND },
	{ 0x1a, 0x1a, A_EXECUTE, S_GROUND },
	{ 0x1b, 0x1b, A_ESC_START, S_ESCAPE },
	{ 0x80, 0x8f, A_C1, S_GROUND },
	{ 0x90, 0x90, A_C1_START, S_DCS_ENTRY },
	{ 0x91, 0x97, A_C1, S_GROUND },
	{ 0x98, 0x98, A_C1_START, S_SOS_PM_APC },
	{ 0x99, 0x9a, A_C1, S_GROUND },
	{ 0x9b, 0x9b, A_C1_START, S_CSI_ENTRY },
	{ 0x9c, 0x9c, A_ST, S_GROUND },
	{ 0x9d, 0x9d, A_C1_START, S_OSC },
	{ 0x9e, 0x9f, A_C1_START, S_SOS_PM_APC },
	END,
};

static const struct transition t_ground[] = {
	C0_EXEC(A_EXECUTE),
	{ 0x20, 0x7e, A_PRINT, S_SAME },
	{ 0x7f, 0x7f, A_EXECUTE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_PRINT, S_SAME },
	END,
};

static const struct transition t_escape[] = {
	C0_EXEC(A_EXECUTE),
	{ 0x20, 0x2f, A_COLLECT, S_ESC_INTER },
	{ 0x30, 0x4f, A_ESC_DISPATCH, S_GROUND },
	{ 0x50, 0x50, A_STRING_START, S_DCS_ENTRY },
	{ 0x51, 0x57, A_ESC_DISPATCH, S_GROUND },
	{ 0x58, 0x58, A_STRING_START, S_SOS_PM_APC },
	{ 0x59, 0x5a, A_ESC_DISPATCH, S_GROUND },
	{ 0x5b, 0x5b, A_CSI_START, S_CSI_ENTRY },
	{ 0x5c, 0x5c, A_ESC_DISPATCH, S_GROUND },
	{ 0x5d, 0x5d, A_STRING_START, S_OSC },
	{ 0x5e, 0x5f, A_STRING_START, S_SOS_PM_APC },
	{ 0x60, 0x7e, A_ESC_DISPATCH, S_GROUND },
	{ 0x7f, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_ABORT_PRINT, S_GROUND },
	END,
};

static const struct transition t_esc_inter[] = {
	C0_EXEC(A_EXECUTE),
	{ 0x20, 0x2f, A_COLLECT, S_SAME },
	{ 0x30, 0x7e, A_ESC_DISPATCH, S_GROUND },
	{ 0x7f, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_ABORT_PRINT, S_GROUND },
	END,
};

/* ':' (0x3a) is a parameter: SGR sub-parameters (38:2::r:g:b, 4:3). */
static const struct transition t_csi_entry[] = {
	C0_EXEC(A_EXECUTE),
	{ 0x20, 0x2f, A_COLLECT, S_CSI_INTER },
	{ 0x30, 0x3b, A_PARAM, S_CSI_PARAM },
	{ 0x3c, 0x3f, A_COLLECT, S_CSI_PARAM },
	{ 0x40, 0x7e, A_CSI_DISPATCH, S_GROUND },
	{ 0x7f, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_IGNORE, S_CSI_IGNORE },
	END,
};

static const struct transition t_csi_param[] = {
	C0_EXEC(A_EXECUTE),
	{ 0x20, 0x2f, A_COLLECT, S_CSI_INTER },
	{ 0x30, 0x3b, A_PARAM, S_SAME },
	{ 0x3c, 0x3f, A_IGNORE, S_CSI_IGNORE },
	{ 0x40, 0x7e, A_CSI_DISPATCH, S_GROUND },
	{ 0x7f, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_IGNORE, S_CSI_IGNORE },
	END,
};

static const struct transition t_csi_inter[] = {
	C0_EXEC(A_EXECUTE),
	{ 0x20, 0x2f, A_COLLECT, S_SAME },
	{ 0x30, 0x3f, A_IGNORE, S_CSI_IGNORE },
	{ 0x40, 0x7e, A_CSI_DISPATCH, S_GROUND },
	{ 0x7f, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_IGNORE, S_CSI_IGNORE },
	END,
};

static const struct transition t_csi_ignore[] = {
	C0_EXEC(A_EXECUTE),
	{ 0x20, 0x3f, A_IGNORE, S_SAME },
	{ 0x40, 0x7e, A_CSI_DROP, S_GROUND },
	{ 0x7f, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_IGNORE, S_SAME },
	END,
};

/* DCS strings are dropped whole; the states only find where they end. */
static const struct transition t_dcs_entry[] = {
	C0_EXEC(A_IGNORE),
	{ 0x20, 0x2f, A_IGNORE, S_DCS_INTER },
	{ 0x30, 0x3b, A_IGNORE, S_DCS_PARAM },
	{ 0x3c, 0x3f, A_IGNORE, S_DCS_PARAM },
	{ 0x40, 0x7e, A_IGNORE, S_DCS_PASS },
	{ 0x7f, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_IGNORE, S_DCS_IGNORE },
	END,
};

static const struct transition t_dcs_param[] = {
	C0_EXEC(A_IGNORE),
	{ 0x20, 0x2f, A_IGNORE, S_DCS_INTER },
	{ 0x30, 0x3b, A_IGNORE, S_SAME },
	{ 0x3c, 0x3f, A_IGNORE, S_DCS_IGNORE },
	{ 0x40, 0x7e, A_IGNORE, S_DCS_PASS },
	{ 0x7f, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_IGNORE, S_DCS_IGNORE },
	END,
};

static const struct transition t_dcs_inter[] = {
	C0_EXEC(A_IGNORE),
	{ 0x20, 0x2f, A_IGNORE, S_SAME },
	{ 0x30, 0x3f, A_IGNORE, S_DCS_IGNORE },
	{ 0x40, 0x7e, A_IGNORE, S_DCS_PASS },
	{ 0x7f, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_IGNORE, S_DCS_IGNORE },
	END,
};

static const struct transition t_dcs_pass[] = {
	C0_EXEC(A_IGNORE),
	{ 0x20, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_IGNORE, S_SAME },
	END,
};

static const struct transition t_dcs_ignore[] = {
	C0_EXEC(A_IGNORE),
	{ 0x20, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_IGNORE, S_SAME },
	END,
};

/* xterm also ends an OSC with BEL. */
static const struct transition t_osc[] = {
	{ 0x00, 0x06, A_IGNORE, S_SAME },
	{ 0x07, 0x07, A_STRING_END, S_GROUND },
	{ 0x08, 0x17, A_IGNORE, S_SAME },
	{ 0x19, 0x19, A_IGNORE, S_SAME },
	{ 0x1c, 0x1f, A_IGNORE, S_SAME },
	{ 0x20, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_IGNORE, S_SAME },
	END,
};

static const struct transition t_sos_pm_apc[] = {
	C0_EXEC(A_IGNORE),
	{ 0x20, 0x7f, A_IGNORE, S_SAME },
	{ CLS_HIGH, CLS_HIGH, A_IGNORE, S_SAME },
	END,
};

static const struct transition *const state_table[S_COUNT] = {
	[S_GROUND] = t_ground,
	[S_ESCAPE] = t_escape,
	[S_ESC_INTER] = t_esc_inter,
	[S_CSI_ENTRY] = t_csi_entry,
	[S_CSI_PARAM] = t_csi_param,
	[S_CSI_INTER] = t_csi_inter,
	[S_CSI_IGNORE] = t_csi_ignore,
	[S_DCS_ENTRY] = t_dcs_entry,
	[S_DCS_PARAM] = t_dcs_param,
	[S_DCS_INTER] = t_dcs_inter,
	[S_DCS_PASS] = t_dcs_pass,
	[S_DCS_IGNORE] = t_dcs_ignore,
	[S_OSC] = t_osc,
	[S_SOS_PM_APC] = t_sos_pm_apc,
	[S_ZMODEM] = t_ground, /* reached only after the ZMODEM check */
};

/* Longest sequence held; a longer one is dropped (none kept is long). */
#define SEQ_MAX 128
#define PARAMS_MAX 32

struct tdm_vt_filter {
	/* The state table, expanded: [state][class]. */
	uint8_t act[S_COUNT][NCLS];
	uint8_t next[S_COUNT][NCLS];

	enum vt_state state;
	uint8_t seq[SEQ_MAX]; /* the sequence being read, ESC first */
	size_t seq_len;
	bool seq_long; /* over SEQ_MAX: dropped at its end */
	bool seq_c1;   /* begun by a C1 control: dropped */

	uint8_t u8[4]; /* a UTF-8 character being read */
	unsigned u8_len, u8_need;

	unsigned stars; /* '*' held back: ZMODEM starts "**" CAN */
	unsigned zm_stars;
	bool zm_typed; /* the ZMODEM header type was read */

	/* What the output switched on, for tdm_vt_finish to undo. */
	unsigned alt_mode; /* 47, 1047 or 1049 when on */
	bool cursor_hidden, nowrap, origin, reverse, lrmm, insert;
	bool sgr, region, g0, shifted;

	struct tdm_vt_stats st;
};

static void table_fill(struct tdm_vt_filter *f, enum vt_state s,
		       const struct transition *t)
{
	unsigned c;

	for (; t->first != 0 || t->last != 0 || t->action != 0; t++) {
		for (c = t->first; c <= t->last && c < NCLS; c++) {
			f->act[s][c] = t->action;
			f->next[s][c] =
				(uint8_t)(t->next == S_SAME ? s : t->next);
		}
	}
}

int tdm_vt_filter_new(struct tdm_vt_filter **out)
{
	struct tdm_vt_filter *f;
	unsigned s;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return TDM_ERR_NOMEM;
	for (s = 0; s < S_COUNT; s++) {
		table_fill(f, (enum vt_state)s, state_table[s]);
		table_fill(f, (enum vt_state)s, t_anywhere);
	}
	f->state = S_GROUND;
	*out = f;
	return 0;
}

/* ---- output ----------------------------------------------------------- */

/* out has room reserved by tdm_vt_filter; this grows it if not. */
static int emit(struct tdm_buf *out, const void *p, size_t n)
{
	if (out->len + n < out->cap) {
		memcpy(out->data + out->len, p, n);
		out->len += n;
		return 0;
	}
	return tdm_buf_put(out, p, n);
}

static int emit_str(struct tdm_buf *out, const char *s)
{
	return emit(out, s, strlen(s));
}

static int emit_replacement(struct tdm_vt_filter *f, struct tdm_buf *out)
{
	f->st.bad_utf8++;
	return emit(out, "\xef\xbf\xbd", 3);
}

static int emit_stars(struct tdm_buf *out, unsigned n)
{
	return emit(out, "**", n > 2 ? 2 : n);
}

/* ---- what may pass ---------------------------------------------------- */

/* ESC sequences: seq is ESC, intermediates, final. */
static bool esc_allowed(struct tdm_vt_filter *f, const uint8_t *seq, size_t len)
{
	uint8_t final = seq[len - 1];

	if (len == 2)
		/* DECSC, DECRC, IND, NEL, RI, HTS */
		return final != 0 && strchr("78DEMH", final) != NULL;
	if (len != 3)
		return false;
	switch (seq[1]) {
	case '(':
	case ')':
	case '*':
	case '+':
	case '-':
	case '.':
	case '/':
		/* Character set designation: glyphs on the screen only. */
		if (seq[1] == '(')
			f->g0 = final != 'B';
		return true;
	case '#':
		/* Double-height/width lines, screen alignment test. */
		return final != 0 && strchr("34568", final) != NULL;
	}
	return false;
}

struct csi {
	uint8_t marker; /* '<', '=', '>', '?' or 0 */
	unsigned param[PARAMS_MAX];
	size_t nparam;
	bool colon, inter, too_many;
	uint8_t final;
};

static void csi_parse(const uint8_t *seq, size_t len, struct csi *c)
{
	size_t i = 2; /* after ESC [ */
	unsigned v = 0;
	bool any = false;

	memset(c, 0, sizeof(*c));
	c->final = seq[len - 1];
	if (i < len - 1 && seq[i] >= 0x3c && seq[i] <= 0x3f)
		c->marker = seq[i++];
	for (; i < len - 1; i++) {
		uint8_t b = seq[i];

		if (b >= '0' && b <= '9') {
			v = v * 10 + (unsigned)(b - '0');
			if (v > 65535)
				v = 65535;
			any = true;
		} else if (b == ';' || b == ':') {
			if (b == ':')
				c->colon = true;
			if (c->nparam < PARAMS_MAX)
				c->param[c->nparam++] = v;
			else
				c->too_many = true;
			v = 0;
			any = true;
		} else {
			c->inter = true;
		}
	}
	if (any) {
		if (c->nparam < PARAMS_MAX)
			c->param[c->nparam++] = v;
		else
			c->too_many = true;
	}
}

static bool has_param(const struct csi *c, unsigned v)
{
	size_t i;

	for (i = 0; i < c->nparam; i++)
		if (c->param[i] == v)
			return true;
	return false;
}

/* Modes set with CSI ? h / l that change only what the screen shows. */
static bool dec_mode_allowed(unsigned m)
{
	switch (m) {
	case 5:	   /* reverse video */
	case 6:	   /* origin mode */
	case 7:	   /* autowrap */
	case 25:   /* cursor visible */
	case 47:   /* alternate screen */
	case 69:   /* left/right margins */
	case 1047: /* alternate screen */
	case 1048: /* save cursor */
	case 1049: /* alternate screen, saving the cursor */
		return true;
	}
	return false;
}

/* Notes what a kept mode switched, for tdm_vt_finish. */
static void mode_track(struct tdm_vt_filter *f, bool dec, unsigned m, bool on)
{
	if (!dec) {
		f->insert = on;
		return;
	}
	switch (m) {
	case 5:
		f->reverse = on;
		break;
	case 6:
		f->origin = on;
		break;
	case 7:
		f->nowrap = !on;
		break;
	case 25:
		f->cursor_hidden = !on;
		break;
	case 69:
		f->lrmm = on;
		break;
	case 47:
	case 1047:
	case 1049:
		f->alt_mode = on ? m : 0;
		break;
	}
}

/*
 * SM/RM and DECSET/DECRST: the allowed modes are passed on (rewritten
 * without the others, e.g. CSI ? 1049;1000 h keeps 1049 and drops mouse
 * reporting); false when none is left.
 */
static int csi_modes(struct tdm_vt_filter *f, const struct csi *c,
		     struct tdm_buf *out)
{
	char num[8];
	size_t i, n = 0, k;
	unsigned v;
	bool dec = c->marker == '?';
	int rc = 0;

	for (i = 0; i < c->nparam; i++) {
		if (dec ? !dec_mode_allowed(c->param[i]) : c->param[i] != 4)
			continue;
		if (n++ == 0)
			rc = emit_str(out, dec ? "\x1b[?" : "\x1b[");
		else
			rc = emit(out, ";", 1);
		/* A decimal without leading zeros, so refiltering agrees. */
		k = sizeof(num) - 1;
		num[k] = '\0';
		v = c->param[i];
		do {
			num[--k] = (char)('0' + v % 10);
			v /= 10;
		} while (v > 0);
		if (rc == 0)
			rc = emit_str(out, num + k);
		mode_track(f, dec, c->param[i], c->final == 'h');
		if (rc < 0)
			return rc;
	}
	if (n > 0)
		rc = emit(out, &c->final, 1);
	if (n < c->nparam || c->nparam == 0)
		f->st.queries++;
	return rc;
}

/* Passes on the CSI sequence in f->seq if it acts on the screen only. */
static int csi_dispatch(struct tdm_vt_filter *f, struct tdm_buf *out)
{
	struct csi c;
	bool keep = false;

	if (f->seq_c1)
		return 0; /* counted when the C1 control came */
	if (f->seq_long) {
		f->st.queries++;
		return 0;
	}
	csi_parse(f->seq, f->seq_len, &c);
	if (c.inter || c.too_many || (c.colon && c.final != 'm'))
		goto drop;
	if (c.marker == '?') {
		if (c.final == 'h' || c.final == 'l') {
			return csi_modes(f, &c, out);
		}
		/* DECSED, DECSEL: selective erase; 3 J would take the
		 * investigator's scrollback. */
		keep = (c.final == 'J' && !has_param(&c, 3)) || c.final == 'K';
	} else if (c.marker == 0) {
		switch (c.final) {
		case 'h':
		case 'l':
			return csi_modes(f, &c, out);
		case 'J': /* ED; 3 erases the scrollback */
			keep = !has_param(&c, 3);
			break;
		case 'T': /* SD; five parameters: mouse tracking */
			keep = c.nparam <= 1;
			break;
		case 'u': /* SCORC; with parameters: kitty keyboard */
			keep = c.nparam == 0;
			break;
		case 'm':
			f->sgr = !(c.nparam == 0 ||
				   (c.nparam == 1 && c.param[0] == 0));
			keep = true;
			break;
		case 'r':
			f->region = c.nparam > 0;
			keep = true;
			break;
		default:
			/* Cursor movement, erasing, inserting, deleting,
			 * scrolling, tabs, repeat, save cursor. */
			keep = strchr("@ABCDEFGHIKLMPSXZ`abdefgs", c.final) !=
			       NULL;
			break;
		}
	}
	if (keep)
		return emit(out, f->seq, f->seq_len);
drop:
	f->st.queries++;
	return 0;
}

/* ---- the parser ------------------------------------------------------- */

static void seq_add(struct tdm_vt_filter *f, uint8_t b)
{
	if (f->seq_len < SEQ_MAX)
		f->seq[f->seq_len++] = b;
	else
		f->seq_long = true;
}

static bool is_string_state(enum vt_state s)
{
	return (s >= S_DCS_ENTRY && s <= S_DCS_IGNORE) || s == S_OSC ||
	       s == S_SOS_PM_APC;
}

static int execute(struct tdm_vt_filter *f, uint32_t cp, struct tdm_buf *out)
{
	uint8_t b = (uint8_t)cp;

	switch (cp) {
	case '\b':
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
		return emit(out, &b, 1);
	case 0x0e: /* SO: G1, line drawing under TERM=screen */
	case 0x0f: /* SI */
		f->shifted = cp == 0x0e;
		return emit(out, &b, 1);
	}
	/* BEL, ENQ (answerback), DEL and the rest. */
	f->st.controls++;
	return 0;
}

/*
 * One code point through the table.  p/n are its bytes as they came;
 * bad: they were not UTF-8 (shown as U+FFFD).
 */
static int step(struct tdm_vt_filter *f, uint32_t cp, const uint8_t *p,
		size_t n, bool bad, struct tdm_buf *out)
{
	unsigned cls = cp < CLS_HIGH ? cp : CLS_HIGH;
	enum vt_state from = f->state;
	uint8_t action;
	int rc = 0;

	if (from == S_ZMODEM) {
		if (!f->zm_typed && cp >= 'A' && cp <= 'C') {
			f->zm_typed = true;
			f->st.zmodem++;
			return 0;
		}
		if (f->zm_typed && cp < 0x80 &&
		    ((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'f') ||
		     (cp >= 'A' && cp <= 'F')))
			return 0;
		/* Not a ZMODEM header after all: give the stars back. */
		if (!f->zm_typed)
			rc = emit_stars(out, f->zm_stars);
		f->state = from = S_GROUND;
		if (rc < 0)
			return rc;
	}
	/* Held stars go out before anything else, but CAN takes them. */
	if (f->stars > 0 && from == S_GROUND && cp != '*' && cp != 0x18) {
		rc = emit_stars(out, f->stars);
		f->stars = 0;
		if (rc < 0)
			return rc;
	}
	action = f->act[from][cls];
	f->state = (enum vt_state)f->next[from][cls];
	if (bad)
		f->st.bad_utf8 +=
			action == A_PRINT || action == A_ABORT_PRINT ? 0 : 1;
	switch ((enum vt_action)action) {
	case A_IGNORE:
		break;
	case A_ABORT_PRINT:
		f->st.queries++;
		/* fall through */
	case A_PRINT:
		if (bad)
			return emit_replacement(f, out);
		if (cp == '*') {
			if (f->stars < 2) {
				f->stars++;
				return 0;
			}
		}
		return emit(out, p, n);
	case A_EXECUTE:
		return execute(f, cp, out);
	case A_CAN:
		if (from == S_GROUND && f->stars > 0) {
			f->zm_stars = f->stars;
			f->stars = 0;
			f->zm_typed = false;
			f->state = S_ZMODEM;
			return 0;
		}
		/* Aborts a sequence or string (dropped), or is dropped. */
		f->st.controls++;
		break;
	case A_ESC_START:
		f->seq_len = 0;
		f->seq_long = false;
		f->seq_c1 = false;
		seq_add(f, 0x1b);
		break;
	case A_COLLECT:
	case A_PARAM:
		seq_add(f, (uint8_t)cp);
		break;
	case A_ESC_DISPATCH:
		seq_add(f, (uint8_t)cp);
		if (f->seq_len == 2 && cp == '\\')
			break; /* ST ending a string already dropped */
		if (!f->seq_long && esc_allowed(f, f->seq, f->seq_len))
			return emit(out, f->seq, f->seq_len);
		f->st.queries++;
		break;
	case A_CSI_START:
		seq_add(f, (uint8_t)cp);
		break;
	case A_CSI_DISPATCH:
		seq_add(f, (uint8_t)cp);
		return csi_dispatch(f, out);
	case A_CSI_DROP:
		if (!f->seq_c1)
			f->st.queries++;
		break;
	case A_STRING_START:
		if (f->state == S_OSC)
			f->st.osc++;
		else
			f->st.strings++;
		break;
	case A_STRING_END:
		break;
	case A_C1:
		f->st.c1++;
		break;
	case A_C1_START:
		f->st.c1++;
		f->seq_len = 0;
		f->seq_long = false;
		f->seq_c1 = true;
		break;
	case A_ST:
		if (!is_string_state(from))
			f->st.c1++;
		break;
	}
	return rc;
}

/* Bytes that may follow the first byte of a UTF-8 character. */
static bool u8_cont_ok(const struct tdm_vt_filter *f, uint8_t b)
{
	if (b < 0x80 || b > 0xbf)
		return false;
	if (f->u8_len != 1)
		return true;
	switch (f->u8[0]) {
	case 0xe0:
		return b >= 0xa0; /* overlong */
	case 0xed:
		return b <= 0x9f; /* surrogates */
	case 0xf0:
		return b >= 0x90; /* overlong */
	case 0xf4:
		return b <= 0x8f; /* above U+10FFFF */
	}
	return true;
}

static uint32_t u8_value(const uint8_t *p, unsigned len)
{
	uint32_t cp = p[0] & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
	unsigned i;

	for (i = 1; i < len; i++)
		cp = cp << 6 | (p[i] & 0x3f);
	return cp;
}

/* A byte through the UTF-8 decoder and then the table. */
static int feed(struct tdm_vt_filter *f, uint8_t b, struct tdm_buf *out)
{
	int rc;

	if (f->u8_need > 0) {
		if (u8_cont_ok(f, b)) {
			f->u8[f->u8_len++] = b;
			if (--f->u8_need > 0)
				return 0;
			return step(f, u8_value(f->u8, f->u8_len), f->u8,
				    f->u8_len, false, out);
		}
		/* A cut-off character: one U+FFFD, then b afresh. */
		f->u8_need = 0;
		rc = step(f, 0xfffd, NULL, 0, true, out);
		if (rc < 0)
			return rc;
	}
	if (b < 0x80 || (b >= 0x80 && b <= 0x9f))
		return step(f, b, &b, 1, false, out); /* raw C1 too */
	f->u8_len = 1;
	f->u8[0] = b;
	if (b >= 0xc2 && b <= 0xdf)
		f->u8_need = 1;
	else if (b >= 0xe0 && b <= 0xef)
		f->u8_need = 2;
	else if (b >= 0xf0 && b <= 0xf4)
		f->u8_need = 3;
	else
		return step(f, 0xfffd, NULL, 0, true, out);
	return 0;
}

/* Printable ASCII but '*': the common case, passed on in runs. */
static bool plain(uint8_t b)
{
	return b >= 0x20 && b <= 0x7e && b != '*';
}

int tdm_vt_filter(struct tdm_vt_filter *f, const uint8_t *in, size_t n,
		  struct tdm_buf *out)
{
	size_t i = 0, run;
	int rc;

	/* Each byte gives at most 3 (U+FFFD); held bytes come on top. */
	if (n > (SIZE_MAX - SEQ_MAX - 64) / 3)
		return TDM_ERR_RANGE;
	rc = tdm_buf_reserve(out, 3 * n + SEQ_MAX + 64);
	if (rc < 0)
		return rc;
	while (i < n) {
		if (f->state == S_GROUND && f->u8_need == 0 && f->stars == 0 &&
		    plain(in[i])) {
			for (run = i + 1; run < n && plain(in[run]); run++)
				;
			rc = emit(out, in + i, run - i);
			i = run;
		} else {
			rc = feed(f, in[i++], out);
		}
		if (rc < 0)
			goto out;
	}
out:
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return rc;
}

int tdm_vt_finish(struct tdm_vt_filter *f, struct tdm_buf *out)
{
	char num[16];
	int rc = 0;

	if (f->u8_need > 0)
		rc = emit_replacement(f, out);
	if (rc == 0 && f->state == S_ZMODEM && !f->zm_typed)
		rc = emit_stars(out, f->zm_stars);
	if (rc == 0 && f->stars > 0)
		rc = emit_stars(out, f->stars);
	if (rc == 0 && f->state != S_GROUND && f->state != S_ZMODEM)
		f->st.queries++; /* a sequence cut off at the end */
	if (rc == 0 && f->shifted)
		rc = emit(out, "\x0f", 1);
	if (rc == 0 && f->g0)
		rc = emit_str(out, "\x1b(B");
	if (rc == 0 && f->sgr)
		rc = emit_str(out, "\x1b[0m");
	if (rc == 0 && f->insert)
		rc = emit_str(out, "\x1b[4l");
	if (rc == 0 && f->origin)
		rc = emit_str(out, "\x1b[?6l");
	if (rc == 0 && f->nowrap)
		rc = emit_str(out, "\x1b[?7h");
	if (rc == 0 && f->reverse)
		rc = emit_str(out, "\x1b[?5l");
	if (rc == 0 && f->lrmm)
		rc = emit_str(out, "\x1b[?69l");
	if (rc == 0 && f->region)
		rc = emit_str(out, "\x1b[r");
	if (rc == 0 && f->alt_mode != 0) {
		snprintf(num, sizeof(num), "\x1b[?%ul", f->alt_mode);
		rc = emit_str(out, num);
	}
	if (rc == 0 && f->cursor_hidden)
		rc = emit_str(out, "\x1b[?25h");
	if (out->data != NULL)
		out->data[out->len] = '\0';
	if (rc < 0)
		return rc;
	f->state = S_GROUND;
	f->seq_len = 0;
	f->seq_long = f->seq_c1 = false;
	f->u8_len = f->u8_need = 0;
	f->stars = f->zm_stars = 0;
	f->zm_typed = false;
	f->alt_mode = 0;
	f->cursor_hidden = f->nowrap = f->origin = f->reverse = false;
	f->lrmm = f->insert = f->sgr = f->region = f->g0 = false;
	f->shifted = false;
	return 0;
}

uint64_t tdm_vt_dropped(const struct tdm_vt_filter *f)
{
	return f->st.osc + f->st.strings + f->st.queries + f->st.c1 +
	       f->st.controls + f->st.zmodem;
}

void tdm_vt_stats(const struct tdm_vt_filter *f, struct tdm_vt_stats *st)
{
	*st = f->st;
}

void tdm_vt_filter_free(struct tdm_vt_filter *f)
{
	free(f);
}
