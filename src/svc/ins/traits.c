/* traits.c - normalisation and checks of the five INS traits (see traits.h for the rules). */
#include "svc/ins/traits.h"

#include <string.h>
#include <time.h>

/* Latin-1 Supplement (U+00C0..U+00FF) letters without their diacritics; "" for × and ÷ (not
 * letters). Ligatures and special letters expand: Æ->AE, ß->SS, Þ->TH, Ð->D. */
static const char *const traits_latin1[64] = {
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I", /* C0-CF */
    "D", "N", "O", "O", "O", "O", "O", "",  "O", "U", "U", "U", "U", "Y", "TH", "SS", /* D0-DF */
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I", /* E0-EF */
    "D", "N", "O", "O", "O", "O", "O", "",  "O", "U", "U", "U", "U", "Y", "TH", "Y",  /* F0-FF */
};

/* Latin Extended-A (U+0100..U+017F): the base letter of each code point, in order
 * (Ā..ą, Ć..č, Ď..đ, Ē..ě, Ĝ..ģ, Ĥ..ħ, Ĩ..ı, Ĳĳ, Ĵĵ, Ķķĸ, Ĺ..ł, Ń..ŋ, Ō..ő, Œœ, Ŕ..ř, Ś..š, Ţ..ŧ,
 * Ũ..ų, Ŵŵ, Ŷŷ Ÿ, Ź..ž, ſ). Ĳ/ĳ and Œ/œ expand to two letters and are handled apart. */
static const char traits_latin_ext_a[129] =
    "AAAAAA"       /* 100-105 */
    "CCCCCCCC"     /* 106-10D */
    "DDDD"         /* 10E-111 */
    "EEEEEEEEEE"   /* 112-11B */
    "GGGGGGGG"     /* 11C-123 */
    "HHHH"         /* 124-127 */
    "IIIIIIIIII"   /* 128-131 */
    "II"           /* 132-133: IJ, expanded apart */
    "JJ"           /* 134-135 */
    "KKK"          /* 136-138 */
    "LLLLLLLLLL"   /* 139-142 */
    "NNNNNNNNN"    /* 143-14B */
    "OOOOOO"       /* 14C-151 */
    "OO"           /* 152-153: OE, expanded apart */
    "RRRRRR"       /* 154-159 */
    "SSSSSSSS"     /* 15A-161 */
    "TTTTTT"       /* 162-167 */
    "UUUUUUUUUUUU" /* 168-173 */
    "WW"           /* 174-175 */
    "YYY"          /* 176-178 */
    "ZZZZZZ"       /* 179-17E */
    "S";           /* 17F long s */

/* Decode one UTF-8 sequence at s (n bytes left, n >= 1) into *cp; its length, 0 when invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t traits_utf8(const unsigned char *s, size_t n, unsigned *cp)
{
    if (s[0] < 0x80) return *cp = s[0], 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF && n >= 2 && (s[1] & 0xC0) == 0x80) {
        *cp = ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
        return 2;
    }
    if (s[0] >= 0xE0 && s[0] <= 0xEF && n >= 3 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
        *cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        return (*cp >= 0x800 && (*cp < 0xD800 || *cp > 0xDFFF)) ? 3 : 0;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4 && n >= 4 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
        (s[3] & 0xC0) == 0x80) {
        *cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
        return (*cp >= 0x10000 && *cp <= 0x10FFFF) ? 4 : 0;
    }
    return 0;
}

/* The letters (upper case, no diacritics) a code point stands for; NULL when it is no Latin letter.
 * one is a 2-byte scratch buffer for single letters. */
static const char *traits_letters(unsigned cp, char one[2])
{
    one[1] = 0;
    if (cp >= 'A' && cp <= 'Z') return one[0] = (char)cp, one;
    if (cp >= 'a' && cp <= 'z') return one[0] = (char)(cp - 'a' + 'A'), one;
    if (cp >= 0xC0 && cp <= 0xFF) return *traits_latin1[cp - 0xC0] ? traits_latin1[cp - 0xC0] : NULL;
    if (cp == 0x132 || cp == 0x133) return "IJ";
    if (cp == 0x152 || cp == 0x153) return "OE";
    if (cp >= 0x100 && cp <= 0x17F) return one[0] = traits_latin_ext_a[cp - 0x100], one;
    if (cp == 0x218 || cp == 0x219) return "S"; /* Romanian Ș ș (comma below) */
    if (cp == 0x21A || cp == 0x21B) return "T"; /* Romanian Ț ț */
    if (cp == 0x1E9E) return "SS";              /* capital sharp s ẞ */
    return NULL;
}

/* The normaliser of names and first-name lists (the same rules; `what` names the trait). */
static int traits_normalize(const char *in, char *out, size_t cap, size_t max_in, const char *what, socle_err *err)
{
    if (!in) return socle_err_set(err, SOCLE_EINVAL, "%s is missing", what);
    if (!out || !cap) return socle_err_set(err, SOCLE_EINTERNAL, "%s: no room for the normalised form", what);
    out[0] = 0;
    size_t n = strlen(in);
    if (n > max_in) return socle_err_set(err, SOCLE_EINVAL, "%s is longer than %zu bytes", what, max_in);
    size_t len = 0;
    char pending = 0; /* the separator waiting for the next letter: ' ', '-' or '\'' */
    int after_letter = 0;
    const unsigned char *s = (const unsigned char *)in;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t k = traits_utf8(s + i, n - i, &cp);
        if (!k) return socle_err_set(err, SOCLE_EINVAL, "%s is not valid UTF-8", what);
        i += k;
        char one[2];
        const char *letters = traits_letters(cp, one);
        if (!letters) {
            if (cp == ' ' || cp == 0xA0) { /* space, no-break space */
                if (!pending) pending = ' ';
            } else if (cp == '-' || cp == 0x2010 || cp == 0x2011) { /* hyphen-minus, hyphen, no-break hyphen */
                pending = '-';
            } else if (cp == '\'' || cp == 0x2019 || cp == 0x2018 || cp == 0x2BC) { /* ' ’ ‘ ʼ */
                pending = '\'';
            } else if (cp >= 0x300 && cp <= 0x36F && after_letter) {
                continue; /* a combining diacritic on the letter before (decomposed input): dropped */
            } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
                return socle_err_set(err, SOCLE_EINVAL, "%s contains a control character", what);
            } else if (cp >= '0' && cp <= '9') {
                return socle_err_set(err, SOCLE_EINVAL, "%s contains a digit", what);
            } else {
                return socle_err_set(err, SOCLE_EINVAL,
                                     "%s contains a character that is not a Latin letter, space, hyphen or apostrophe",
                                     what);
            }
            after_letter = 0;
            continue;
        }
        after_letter = 1;
        size_t ln = strlen(letters), sep = pending && len ? 1 : 0;
        if (len + sep + ln + 1 > cap)
            return socle_err_set(err, SOCLE_EINVAL, "%s is too long for its normalised form", what);
        if (sep) out[len++] = pending;
        pending = 0;
        memcpy(out + len, letters, ln);
        len += ln;
    }
    out[len] = 0;
    if (!len) return socle_err_set(err, SOCLE_EINVAL, "%s has no letter", what);
    return 0;
}

/* On error out is left empty, never holding a partial name. */
int ins_normalize_name(const char *in, char *out, size_t cap, socle_err *err)
{
    int rc = traits_normalize(in, out, cap, INS_NAME_MAX_IN, "the birth name", err);
    if (rc && out && cap) out[0] = 0;
    return rc;
}

int ins_normalize_first_names(const char *in, char *out, size_t cap, socle_err *err)
{
    int rc = traits_normalize(in, out, cap, INS_FIRST_NAMES_MAX_IN, "the birth first names", err);
    if (rc && out && cap) out[0] = 0;
    return rc;
}

/* Whether first[0..n) is one of the names of the space-separated list. */
static int traits_name_in_list(const char *first, size_t n, const char *list)
{
    if (!n) return 0;
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && !memcmp(p, first, n)) return 1;
        p += k;
        while (*p == ' ') p++;
    }
    return 0;
}

int ins_first_name_in_list(const char *first, const char *list)
{
    return first && list && traits_name_in_list(first, strlen(first), list);
}

int ins_first_names_all_in_list(const char *searched, const char *list)
{
    if (!searched || !list) return 0;
    for (const char *p = searched; *p;) {
        size_t k = strcspn(p, " ");
        if (k && !traits_name_in_list(p, k, list)) return 0;
        p += k;
        while (*p == ' ') p++;
    }
    return 1;
}

int ins_check_sex(const char *s, socle_err *err)
{
    if (s && (!strcmp(s, "M") || !strcmp(s, "F") || !strcmp(s, "m") || !strcmp(s, "f"))) return 0;
    return socle_err_set(err, SOCLE_EINVAL, "the sex must be M or F");
}

/* The value of n decimal digits at s; -1 when one of them is not a digit. */
static int traits_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int ins_check_birth_date(const char *s, int *year, int *month, int *day, socle_err *err)
{
    static const char form[] = "the birth date must be YYYY-MM-DD (00 for an unknown month or day)";
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return socle_err_set(err, SOCLE_EINVAL, "%s", form);
    int y = traits_digits(s, 4), m = traits_digits(s + 5, 2), d = traits_digits(s + 8, 2);
    if (y < 0 || m < 0 || d < 0) return socle_err_set(err, SOCLE_EINVAL, "%s", form);
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm)) return socle_err_set(err, SOCLE_EINTERNAL, "the birth date: no current date");
    int ty = tm.tm_year + 1900, tmon = tm.tm_mon + 1, tday = tm.tm_mday;
    if (y < 1850) return socle_err_set(err, SOCLE_EINVAL, "the birth year must be 1850 or later");
    if (m > 12) return socle_err_set(err, SOCLE_EINVAL, "the birth month must be 01 to 12, or 00 when unknown");
    if (m == 0 && d != 0)
        return socle_err_set(err, SOCLE_EINVAL, "an unknown birth month (00) needs an unknown day (00)");
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m && d > days[m - 1] + (m == 2 && leap))
        return socle_err_set(err, SOCLE_EINVAL, "the birth day does not exist in that month");
    /* Unknown parts compare as the earliest possible, so a partial date of this month is accepted. */
    if (y > ty || (y == ty && m > tmon) || (y == ty && m == tmon && d > tday))
        return socle_err_set(err, SOCLE_EINVAL, "the birth date is in the future");
    if (year) *year = y;
    if (month) *month = m;
    if (day) *day = d;
    return 0;
}

int ins_birth_dates_match(const char *a, const char *b)
{
    if (!a || !b || strlen(a) != 10 || strlen(b) != 10 || a[4] != '-' || b[4] != '-' || a[7] != '-' || b[7] != '-')
        return 0;
    if (traits_digits(a, 4) < 0 || memcmp(a, b, 4)) return 0;
    for (int part = 5; part <= 8; part += 3) {
        if (traits_digits(a + part, 2) < 0 || traits_digits(b + part, 2) < 0) return 0;
        int unknown = !memcmp(a + part, "00", 2) || !memcmp(b + part, "00", 2);
        if (!unknown && memcmp(a + part, b + part, 2)) return 0;
    }
    return 1;
}

int ins_check_birth_place(const char *s, socle_err *err)
{
    if (!s || strlen(s) != 5)
        return socle_err_set(err, SOCLE_EINVAL, "the birth place must be a 5-character INSEE COG code");
    int corsica = s[0] == '2' && (s[1] == 'A' || s[1] == 'B');
    if ((corsica ? traits_digits(s + 2, 3) : traits_digits(s, 5)) < 0)
        return socle_err_set(err, SOCLE_EINVAL,
                             "the birth place must be 5 digits, or 2A/2B and 3 digits (INSEE COG code)");
    if (corsica) return 0;
    /* Overseas départements (971..976 + 2 digits) and pre-1976 Corsica (20xxx) are plain digits. */
    if (!strncmp(s, "00", 2))
        return socle_err_set(err, SOCLE_EINVAL, "the birth place is not a commune or country code (no département 00)");
    if (!strncmp(s, "99", 2)) {
        /* 99 + country: 991xx Europe .. 995xx Oceania. 99100 is France itself, which is no birth
         * place: someone born in France has the code of the commune (RNIV), so it is refused. */
        if (s[2] == '0')
            return socle_err_set(err, SOCLE_EINVAL, "the birth place 990xx is not a country code (99101 to 99599)");
        if (!strcmp(s, "99100"))
            return socle_err_set(err, SOCLE_EINVAL,
                                 "the birth place 99100 (France) is not a place of birth: give the commune code");
    }
    return 0;
}
