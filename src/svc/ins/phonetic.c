/* phonetic.c - a phonetic key for French names (in the spirit of the French "Soundex 2" and
 * Phonex), used to suggest sound-alike identities. Deterministic, allocation-free, one pass.
 *
 * Input: a name normalised by ins_normalize_name (A-Z; space, hyphen and apostrophe separate
 * words). Each word is transcribed on its own and the transcriptions are joined without separator
 * (so "LE GOFF" and "LEGOFF" get the same key). Output alphabet:
 *   consonants  B D F G J K L M N P R S T V X(=CH sound) Z
 *   vowels      A  E(é è ê, e, ai, ei, eu)  I(i, y)  O(o, au, eau)  U(u)  W(ou, and the w of oi)
 *   nasals      1 = an/am/en/em   2 = in/im/yn/ym/ain/aim/ein/eim/un/um/(i)en   3 = on/om
 * and, at the very end, any run of the same code is written once (PP -> P, SS -> S, "ANNA" -> ANA).
 *
 * Rules, in the order they are tried at each position:
 *  1. Silent endings (words of 3 letters or more, each step at most once, in this order):
 *     a final TT/DD counts as one letter (SCHMITT); a final S, X or Z is silent; then a final E is
 *     silent (JACQUES, FAURE) - unless the word ended in Z, whose E is an é (DUMEZ); then a final T
 *     or D is silent (DUPONT, DUPOND, BERNARD, LAURENT). Silent letters still count as neighbours
 *     for the other rules (MARTINE: the IN is not nasal because an E follows).
 *  2. Vowel groups: EAU, AU -> O; AI, EI, AY, EY -> E (AY/EY before a vowel -> E I); EU, OEU -> E;
 *     OU -> W; OI -> WA; OY -> WA (before a vowel WA I); Y -> I. An E between J or G and A/O/U is
 *     silent (JEAN, GEORGES).
 *  3. Nasals: a vowel group + N or M followed by a consonant other than N/M, or by the end of the
 *     word: AN AM EN EM -> 1; EN after I or Y -> 2 (JULIEN); IN IM YN YM AIN AIM EIN EIM UN UM -> 2;
 *     ON OM -> 3; OIN -> W2. Before a vowel or a doubled N/M it is not nasal (ANNE, MARTINE).
 *  4. Consonants: H alone is silent; CH -> X, but K before R or L (CHRISTOPHE); SCH, SH -> X;
 *     PH -> F; TH -> T; GH -> G; C before E/I/Y -> S, else K; SC before E/I/Y -> S; Q, QU, K -> K;
 *     G before E/I/Y -> J; GU before E/I/Y -> G (U silent); GN -> N I; S between vowels -> Z;
 *     X -> K S; W -> V; B before V is silent (LEFEBVRE).
 * Known simplifications: no -TION, -ILLE or -ER rules; voiced and voiceless consonants stay apart
 * (so typos are not absorbed: DUPONT and DUBOND differ); Ç is already C after normalisation. */
#include "svc/ins/phonetic.h"

/* The key being written: codes beyond the room left are dropped; `last` drives the collapsing. */
typedef struct {
    char *buf;
    size_t cap, len;
    char last;
} phonetic_out;

static void phonetic_emit(phonetic_out *o, char c)
{
    if (c == o->last) return;
    o->last = c;
    if (o->len + 1 < o->cap) {
        o->buf[o->len++] = c;
        o->buf[o->len] = 0;
    }
}

static int phonetic_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int phonetic_vowel(char c)
{
    return c == 'A' || c == 'E' || c == 'I' || c == 'O' || c == 'U' || c == 'Y';
}

/* One word: w[0..n), letters only. */
typedef struct {
    const char *w;
    size_t n;
} phonetic_word;

/* The letter at k in upper case; 0 past the word. */
static char phonetic_at(const phonetic_word *pw, size_t k)
{
    if (k >= pw->n) return 0;
    char c = pw->w[k];
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* 1 when an N or M whose next letter is at k makes the vowel before it nasal. */
static int phonetic_nasal_end(const phonetic_word *pw, size_t k)
{
    char c = phonetic_at(pw, k);
    return !c || (!phonetic_vowel(c) && c != 'N' && c != 'M');
}

/* 1 when the letters at k are N or M closing a nasal vowel. */
static int phonetic_nasal_at(const phonetic_word *pw, size_t k)
{
    char c = phonetic_at(pw, k);
    return (c == 'N' || c == 'M') && phonetic_nasal_end(pw, k + 1);
}

/* The end of the sounding part of the word (rule 1). */
static size_t phonetic_sounding_end(const phonetic_word *pw)
{
    size_t e = pw->n;
    if (e < 3) return e;
    char last = phonetic_at(pw, e - 1);
    if ((last == 'T' || last == 'D') && phonetic_at(pw, e - 2) == last) e--;
    last = phonetic_at(pw, e - 1);
    int e_sounds = 0;
    if (last == 'S' || last == 'X' || last == 'Z') {
        e_sounds = last == 'Z';
        e--;
    }
    if (e > 1 && phonetic_at(pw, e - 1) == 'E' && !e_sounds) e--;
    last = phonetic_at(pw, e - 1);
    if (e > 1 && (last == 'T' || last == 'D')) e--;
    return e;
}

/* Transcribe one vowel group at i; returns how many letters it used. */
static size_t phonetic_vowels(const phonetic_word *pw, size_t i, phonetic_out *o)
{
    char c = phonetic_at(pw, i), c1 = phonetic_at(pw, i + 1), c2 = phonetic_at(pw, i + 2);
    char prev = i ? phonetic_at(pw, i - 1) : 0;
    switch (c) {
    case 'A':
        if ((c1 == 'I' || c1 == 'Y') && phonetic_nasal_at(pw, i + 2)) return phonetic_emit(o, '2'), 3;
        if (c1 == 'I') return phonetic_emit(o, 'E'), 2;
        if (c1 == 'Y') {
            phonetic_emit(o, 'E');
            if (phonetic_vowel(c2)) phonetic_emit(o, 'I');
            return 2;
        }
        if (c1 == 'U') return phonetic_emit(o, 'O'), 2;
        if (phonetic_nasal_at(pw, i + 1)) return phonetic_emit(o, '1'), 2;
        return phonetic_emit(o, 'A'), 1;
    case 'E':
        if ((prev == 'J' || prev == 'G') && (c1 == 'A' || c1 == 'O' || c1 == 'U')) return 1; /* JEAN, GEORGES */
        if (c1 == 'A' && c2 == 'U') return phonetic_emit(o, 'O'), 3;
        if (c1 == 'I' && phonetic_nasal_at(pw, i + 2)) return phonetic_emit(o, '2'), 3;
        if (c1 == 'I' || c1 == 'U') return phonetic_emit(o, 'E'), 2;
        if (c1 == 'Y') {
            phonetic_emit(o, 'E');
            if (phonetic_vowel(c2)) phonetic_emit(o, 'I');
            return 2;
        }
        if (phonetic_nasal_at(pw, i + 1)) return phonetic_emit(o, (prev == 'I' || prev == 'Y') ? '2' : '1'), 2;
        return phonetic_emit(o, 'E'), 1;
    case 'I':
    case 'Y':
        if (phonetic_nasal_at(pw, i + 1)) return phonetic_emit(o, '2'), 2;
        return phonetic_emit(o, 'I'), 1;
    case 'O':
        if (c1 == 'E' && c2 == 'U') return phonetic_emit(o, 'E'), 3;
        if (c1 == 'U') return phonetic_emit(o, 'W'), 2;
        if (c1 == 'I') {
            phonetic_emit(o, 'W');
            if (phonetic_nasal_at(pw, i + 2)) return phonetic_emit(o, '2'), 3;
            return phonetic_emit(o, 'A'), 2;
        }
        if (c1 == 'Y') {
            phonetic_emit(o, 'W');
            phonetic_emit(o, 'A');
            if (phonetic_vowel(c2)) phonetic_emit(o, 'I');
            return 2;
        }
        if (phonetic_nasal_at(pw, i + 1)) return phonetic_emit(o, '3'), 2;
        return phonetic_emit(o, 'O'), 1;
    default: /* 'U' */
        if (phonetic_nasal_at(pw, i + 1)) return phonetic_emit(o, '2'), 2;
        return phonetic_emit(o, 'U'), 1;
    }
}

/* Transcribe one consonant (group) at i; returns how many letters it used. */
static size_t phonetic_consonants(const phonetic_word *pw, size_t i, phonetic_out *o)
{
    char c = phonetic_at(pw, i), c1 = phonetic_at(pw, i + 1), c2 = phonetic_at(pw, i + 2);
    char prev = i ? phonetic_at(pw, i - 1) : 0;
    int soft = c1 == 'E' || c1 == 'I' || c1 == 'Y';
    switch (c) {
    case 'B':
        if (c1 == 'V') return 1;
        return phonetic_emit(o, 'B'), 1;
    case 'C':
        if (c1 == 'H') return phonetic_emit(o, (c2 == 'R' || c2 == 'L') ? 'K' : 'X'), 2;
        return phonetic_emit(o, soft ? 'S' : 'K'), 1;
    case 'G':
        if (c1 == 'N') {
            phonetic_emit(o, 'N');
            phonetic_emit(o, 'I');
            return 2;
        }
        if (c1 == 'H') return phonetic_emit(o, 'G'), 2;
        if (c1 == 'U' && (c2 == 'E' || c2 == 'I' || c2 == 'Y')) return phonetic_emit(o, 'G'), 2;
        return phonetic_emit(o, soft ? 'J' : 'G'), 1;
    case 'H':
        return 1;
    case 'P':
        if (c1 == 'H') return phonetic_emit(o, 'F'), 2;
        return phonetic_emit(o, 'P'), 1;
    case 'Q':
        return phonetic_emit(o, 'K'), c1 == 'U' ? 2 : 1;
    case 'S':
        if (c1 == 'C' && c2 == 'H') return phonetic_emit(o, 'X'), 3;
        if (c1 == 'H') return phonetic_emit(o, 'X'), 2;
        if (c1 == 'C' && (c2 == 'E' || c2 == 'I' || c2 == 'Y')) return phonetic_emit(o, 'S'), 2;
        return phonetic_emit(o, phonetic_vowel(prev) && phonetic_vowel(c1) ? 'Z' : 'S'), 1;
    case 'T':
        return phonetic_emit(o, 'T'), c1 == 'H' ? 2 : 1;
    case 'W':
        return phonetic_emit(o, 'V'), 1;
    case 'X':
        phonetic_emit(o, 'K');
        phonetic_emit(o, 'S');
        return 1;
    default: /* D F J K L M N R V Z */
        return phonetic_emit(o, c), 1;
    }
}

static void phonetic_word_key(const phonetic_word *pw, phonetic_out *o)
{
    size_t e = phonetic_sounding_end(pw);
    for (size_t i = 0; i < e;) {
        char c = phonetic_at(pw, i);
        i += phonetic_vowel(c) ? phonetic_vowels(pw, i, o) : phonetic_consonants(pw, i, o);
    }
}

void ins_phonetic_key(const char *normalized, char *out, size_t cap)
{
    if (!out || !cap) return;
    out[0] = 0;
    if (!normalized) return;
    phonetic_out o = {out, cap, 0, 0};
    for (const char *p = normalized; *p;) {
        if (!phonetic_letter(*p)) {
            p++;
            continue;
        }
        phonetic_word pw = {p, 0};
        while (phonetic_letter(p[pw.n])) pw.n++;
        phonetic_word_key(&pw, &o);
        p += pw.n;
    }
}
