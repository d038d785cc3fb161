/*
 * gate.c: nothing reaches the target except through gate_release().
 *
 * gate_release() records the bytes ("i" event) and only then queues them
 * for the channel; if the recording cannot be written the session freezes
 * and the bytes are dropped, never sent unrecorded.
 */
#include "gate.h"

#include "err.h"

static int gate_release(struct session *s, const uint8_t *p, size_t n)
{
	int rc;

	if (s->frozen)
		return TDM_ERR_IO;
	rc = tdm_cast_input(s->cast, p, n);
	if (rc < 0) {
		s->frozen = true;
		return rc;
	}
	rc = tdm_buf_put(&s->to_target, p, n);
	if (rc < 0)
		return rc;
	s->bytes_in += n;
	return gate_pump(s);
}

int gate_submit(struct session *s, const uint8_t *p, size_t n)
{
	return gate_release(s, p, n);
}

int gate_pump(struct session *s)
{
	while (s->to_target.len > 0 && !s->frozen) {
		uint32_t window = ssh_channel_window_size(s->channel);
		size_t n = s->to_target.len;
		int wrote;

		if (window == 0)
			return 0;
		if (n > window)
			n = window;
		/* Never more than the window: a write that waits for the
		 * window would stop us reading the target, and both sides
		 * would wait for each other. */
		wrote = ssh_channel_write(s->channel, s->to_target.data,
					  (uint32_t)n);
		if (wrote < 0)
			return TDM_ERR_SSH;
		tdm_buf_consume(&s->to_target, (size_t)wrote);
		if (wrote == 0)
			return 0;
	}
	if (s->in_eof && s->to_target.len == 0 && !s->eof_sent &&
	    !s->frozen) {
		s->eof_sent = true;
		if (ssh_channel_send_eof(s->channel) != SSH_OK)
			return TDM_ERR_SSH;
	}
	return 0;
}

bool gate_wants_input(const struct session *s)
{
	return !s->frozen && !s->in_eof &&
	       s->to_target.len < SESSION_MAX_QUEUED;
}

int gate_finish(struct session *s)
{
	s->in_eof = true;
	return gate_pump(s);
}
