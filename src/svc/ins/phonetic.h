/* phonetic.h - a phonetic key for French names, to find identities whose names sound alike
 * (DUPOND/DUPONT, FAURE/FORE, PHILIPPE/FILIPE) while different names keep different keys.
 *
 * The key transcribes each word of the name into a small sound alphabet and joins the words
 * (rules in phonetic.c). It is for suggesting candidates (homonym detection, record search), never
 * for deciding an identity: INSi matching compares the normalised traits themselves. */
#ifndef SOCLE_SVC_INS_PHONETIC_H
#define SOCLE_SVC_INS_PHONETIC_H

#include <stddef.h>

/* ins_phonetic_key - the key of a name already normalised by ins_normalize_name (A-Z, space,
 * hyphen, apostrophe; other bytes are read as separators, a-z as A-Z) into out (size cap, always
 * NUL-terminated when cap > 0, truncated to fit). Empty when there is no letter. Never fails. */
void ins_phonetic_key(const char *normalized, char *out, size_t cap);

#endif
