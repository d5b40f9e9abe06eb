/* ids.h - identifiers made by the server: resource ids, request ids, random tokens.
 *
 * Randomness comes from getrandom(2); these functions abort the process only if the kernel
 * cannot provide randomness at all (a broken system, not a runtime condition). */
#ifndef SOCLE_BASE_IDS_H
#define SOCLE_BASE_IDS_H

#include <stddef.h>

/* id_uuid - a random (v4) UUID, lowercase, into out (>= 37 bytes). Returns out. */
char *id_uuid(char *out);
/* id_resource - the id of a resource the server creates: a time-ordered (v7, RFC 9562) UUID, 48 bits
 * of Unix milliseconds then 74 random bits, into out (>= 37 bytes). Ids made together sort together,
 * so the B-tree indexes keyed by id grow at their end (a few pages per commit) instead of at random
 * pages (one per resource). It tells when it was made: not for secrets, nor for a resource whose
 * creation time says something of a patient by itself (a Patient, a DocumentReference). Returns out. */
char *id_resource(char *out);
/* id_request - 16 random lowercase hex characters into out (>= 17 bytes): unique, not secret
 * (drawn from a per-thread pool). */
char *id_request(char *out);
/* id_random_bytes - fill buf with n random bytes. */
void id_random_bytes(void *buf, size_t n);
/* id_fhir_valid - 1 if s is a valid FHIR logical id: [A-Za-z0-9-.]{1,64}. */
int id_fhir_valid(const char *s);

#endif
