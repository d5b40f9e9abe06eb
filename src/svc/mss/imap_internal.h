/* imap_internal.h - what the IMAP session (imap.c) shares with its FETCH, SEARCH and STORE code
 * (imap_fetch.c): the session record, the selected folder's view, the command tokenizer. */
#ifndef SOCLE_SVC_MSS_IMAP_INTERNAL_H
#define SOCLE_SVC_MSS_IMAP_INTERNAL_H

#include "svc/mss/mss_internal.h"

/* System flags as bits; keywords are not kept (PERMANENTFLAGS says so). */
enum { IMAP_SEEN = 1, IMAP_ANSWERED = 2, IMAP_FLAGGED = 4, IMAP_DELETED = 8, IMAP_DRAFT = 16 };

/* One message of the selected folder as the session sees it: sequence number = index + 1. */
typedef struct imap_message {
    int64_t uid;
    int64_t size;
    int64_t internal_ms;
    unsigned flags;
} imap_message;

typedef struct imap_session {
    mss_service *svc;
    lines_conn *c;
    int authenticated;
    int auth_failures;
    int over;            /* the session must end now (a command said so; its BYE, if any, was sent) */
    auth_subject who;
    mss_mailbox mailbox;
    /* The selected folder (folder == 0: none). */
    int64_t folder;
    char folder_name[128];
    int readonly;
    int64_t uidvalidity, uidnext;
    imap_message *msgs;
    size_t n, cap;
    uint64_t generation; /* mss_change_count of the mailbox when the view was last refreshed */
    /* The current command. */
    char *cmd;           /* the whole command, literals inlined after their {n} */
    size_t cmd_len, cmd_cap;
    char tag[64];
    arena *a;            /* per command */
} imap_session;

/* A command's tokenizer state. */
typedef struct imap_cursor {
    const char *p, *end;
} imap_cursor;

/* imap_astring - the next atom, quoted string or literal, copied into the session arena;
 * NULL when there is none (malformed). Skips one leading space. */
const char *imap_astring(imap_session *s, imap_cursor *k);
/* imap_atom_until - the next run of characters up to a space or one of `stop` (arena copy). */
const char *imap_atom_until(imap_session *s, imap_cursor *k, const char *stop);
/* imap_flags_text - "\\Seen \\Flagged" for the bits (static buffer of the caller). */
void imap_flags_text(unsigned flags, char *out, size_t n);
/* imap_flags_parse - the bits of a stored flags text ("\\Seen \\Flagged"). */
unsigned imap_flags_parse(const char *text);
/* imap_flag_bit - the bit of a flag name, 0 when unknown (keywords, \Recent). */
unsigned imap_flag_bit(const char *name);
/* imap_refresh - reload the selected folder and tell the client what changed (EXPUNGE,
 * EXISTS, FETCH FLAGS) when `report` is set. 0 or an error. */
int imap_refresh(imap_session *s, int report);
/* imap_expunge_uids - UID EXPUNGE (RFC 4315): remove those of the given UIDs that are \Deleted. */
void imap_expunge_uids(imap_session *s, const int64_t *uids, size_t n);
/* imap_tagged - the final reply of the current command. */
void imap_tagged(imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* imap_fetch.c */
void imap_cmd_fetch(imap_session *s, imap_cursor *k, int uid);
void imap_cmd_search(imap_session *s, imap_cursor *k, int uid);
void imap_cmd_store(imap_session *s, imap_cursor *k, int uid);
/* imap_cmd_copy - COPY, or MOVE (RFC 6851) when move is set: the copies and the removal of the
 * originals in one transaction, then the untagged EXPUNGEs. */
void imap_cmd_copy(imap_session *s, imap_cursor *k, int uid, int move);
/* imap_cmd_uid_expunge - UID EXPUNGE sequence-set (RFC 4315). */
void imap_cmd_uid_expunge(imap_session *s, imap_cursor *k);
/* imap_parse_arguments - run the argument parsers (sequence sets and FETCH attributes, SEARCH
 * keys, strings and literals) over text without a session or a store: for the fuzz target. Returns
 * a bit set of what parsed. */
int imap_parse_arguments(const char *text, size_t len);
/* imap_internal_date - "17-Jul-1996 02:44:25 +0000". */
void imap_internal_date(int64_t ms, char *out, size_t n);

#endif
