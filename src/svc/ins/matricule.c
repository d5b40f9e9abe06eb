/* matricule.c - INS matricule key computation and checking (NIR/NIA, Corsica included). */
#include "svc/ins/matricule.h"

#include <string.h>

int ins_matricule_key(const char *s)
{
    /* The number has 13 digits: fits in 64 bits, but reduce as we go anyway. */
    unsigned long long rem = 0;
    for (int i = 0; i < 13; i++) {
        int digit;
        char c = s[i];
        if (i == 5 && c == '2' && (s[6] == 'A' || s[6] == 'B')) {
            /* "2A" reads as 19, "2B" as 18: handle both characters here. */
            rem = (rem * 100 + (s[6] == 'A' ? 19 : 18)) % 97;
            i++;
            continue;
        }
        if (c < '0' || c > '9') return -1;
        digit = c - '0';
        rem = (rem * 10 + (unsigned)digit) % 97;
    }
    return (int)(97 - rem);
}

int ins_matricule_check(const char *s, socle_err *err)
{
    if (!s) return socle_err_set(err, SOCLE_EINVAL, "missing");
    size_t n = strlen(s);
    if (n != 15) return socle_err_set(err, SOCLE_EINVAL, "must be 15 characters (13 and a 2-digit key), got %zu", n);
    int key = ins_matricule_key(s);
    if (key < 0)
        return socle_err_set(err, SOCLE_EINVAL,
                             "the first 13 characters must be digits (2A or 2B allowed at positions 6-7, counting from 1)");
    if (s[13] < '0' || s[13] > '9' || s[14] < '0' || s[14] > '9')
        return socle_err_set(err, SOCLE_EINVAL, "the key (last 2 characters) must be digits");
    if ((s[13] - '0') * 10 + (s[14] - '0') != key)
        return socle_err_set(err, SOCLE_EINVAL, "wrong key (97 - number mod 97)");
    return 0;
}

int ins_oid_known(const char *oid)
{
    return oid && (!strcmp(oid, INS_OID_NIR) || !strcmp(oid, INS_OID_NIA) || !strcmp(oid, INS_OID_NIR_TEST) ||
                   !strcmp(oid, INS_OID_NIR_DEMO));
}

int ins_oid_syntax(const char *oid)
{
    if (!oid || strlen(oid) > 63 || oid[0] < '0' || oid[0] > '2') return 0;
    int arcs = 0;
    const char *p = oid;
    for (;;) {
        size_t n = strspn(p, "0123456789");
        if (n == 0 || (n > 1 && p[0] == '0')) return 0;
        arcs++;
        p += n;
        if (!*p) return arcs >= 2;
        if (*p++ != '.') return 0;
    }
}
