/* matricule.h - the INS matricule (NIR or NIA): 13 characters and a 2-digit key.
 *
 * Key = 97 - (the 13 characters read as an integer, Corsica "2A"/"2B" at positions 6-7 read as
 * "19"/"18") mod 97. NIR and NIA have the same form; which one a matricule is comes from its OID. */
#ifndef SOCLE_SVC_INS_MATRICULE_H
#define SOCLE_SVC_INS_MATRICULE_H

#include "base/err.h"

/* The identifier systems (FR Core fr-core-patient-ins). socle's synthetic data uses TEST and DEMO. */
#define INS_OID_NIR "1.2.250.1.213.1.4.8"
#define INS_OID_NIA "1.2.250.1.213.1.4.9"
#define INS_OID_NIR_TEST "1.2.250.1.213.1.4.10"
#define INS_OID_NIR_DEMO "1.2.250.1.213.1.4.11"

/* ins_matricule_key - the key (1..97) of the 13 characters at s (digits, or 2A/2B at positions
 * 6-7); -1 when they are not of that form. Reads exactly 13 bytes. Can't fail otherwise. */
int ins_matricule_key(const char *s);

/* ins_matricule_check - 0 when s is a 15-character matricule whose key is right; otherwise
 * SOCLE_EINVAL with a message naming the rule (length, characters, key). s may be NULL. */
int ins_matricule_check(const char *s, socle_err *err);

/* ins_oid_known - 1 when oid is one of the four INS identifier systems above. */
int ins_oid_known(const char *oid);

/* ins_oid_syntax - 1 when oid is written as an OID: at least two arcs of digits separated by single
 * dots, the first 0, 1 or 2, no leading zero in an arc, at most 63 characters. */
int ins_oid_syntax(const char *oid);

#endif
