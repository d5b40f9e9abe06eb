/* generate.c - the synthetic INS reference base: embedded name and place tables, a seeded PRNG,
 * unique matricules (a blocked Bloom filter: a false positive only costs another draw), twins,
 * homonyms and carte Vitale data. Distributions and conventions are listed in generate.h. */
#include "base/rng.h"
#include "svc/ins/generate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "svc/ins/matricule.h"

/* ---- names --------------------------------------------------------------------------------- */

/* Family (birth) names, roughly by decreasing frequency in France. Accents, particles
 * ("Le Goff") and apostrophes ("D'Almeida") are kept as the civil registry writes them. */
static const char *const FAMILY[] = {
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent",
    "Simon", "Michel", "Lefèbvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard",
    "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Lefèvre", "Faure", "André",
    "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Garcia",
    "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson",
    "Marchand", "Duval", "Denis", "Dumont", "Marie", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier",
    "Brun", "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet", "Gaillard", "Barbier", "Arnaud",
    "Martinez", "Gérard", "Roche", "Renard", "Schmitt", "Roy", "Leroux", "Colin", "Vidal", "Caron",
    "Picard", "Roger", "Fabre", "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix", "Olivier", "Philippe",
    "Bourgeois", "Pierre", "Benoît", "Rey", "Leclerc", "Payet", "Rolland", "Leclercq", "Guillaume", "Lecomte",
    "Lopez", "Jean", "Dupuy", "Guillot", "Hubert", "Berger", "Carpentier", "Sanchez", "Dupuis", "Moulin",
    "Louis", "Deschamps", "Huet", "Vasseur", "Perez", "Boucher", "Fleury", "Royer", "Klein", "Jacquet",
    "Adam", "Paris", "Poirier", "Marty", "Aubry", "Guyot", "Carré", "Charles", "Renault", "Charpentier",
    "Ménard", "Maillard", "Baron", "Bertin", "Bailly", "Hervé", "Schneider", "Fernandez", "Le Gall", "Collet",
    "Léger", "Bouvier", "Julien", "Prévost", "Millet", "Perrot", "Daniel", "Le Roux", "Cousin", "Germain",
    "Breton", "Besson", "Langlois", "Rémy", "Le Goff", "Pelletier", "Lévêque", "Perrier", "Leblanc", "Barré",
    "Lebrun", "Marchal", "Weber", "Mallet", "Hamon", "Boulanger", "Jacob", "Monnier", "Michaud", "Rodriguez",
    "Guichard", "Gillet", "Étienne", "Grondin", "Poulain", "Tessier", "Chevallier", "Collin", "Chauvin", "Da Silva",
    "Bouchet", "Gay", "Lemaître", "Bénard", "Maréchal", "Humbert", "Reynaud", "Antoine", "Hoarau", "Perret",
    "Barthélemy", "Cordier", "Pichon", "Lejeune", "Gilbert", "Lamy", "Delaunay", "Pasquier", "Carlier", "Laporte",
    "Nguyen", "Dos Santos", "Ferreira", "Pereira", "Rodrigues", "Fernandes", "Diallo", "Traoré", "Haddad", "Benali",
    "N'Diaye", "D'Almeida", "Le Bihan", "Le Corre", "De Sousa", "Hébert", "Texier", "Lebon", "Dijoux", "Tran",
    "Kouassi", "Mendy", "Bensaïd", "Ouellet", "Di Marco", "Van Damme", "Saint-Martin", "Le Béchec", "D'Arco", "Müller",
};
#define NFAMILY ((int)(sizeof FAMILY / sizeof FAMILY[0]))

/* First names per sex and era of birth (0: before 1945, 1: 1945-1974, 2: 1975-1999, 3: 2000 on),
 * each list roughly by decreasing popularity. A compound first name keeps its hyphen. */
#define ERAS 4
#define PER_ERA 50
static const char *const GIVEN_M[ERAS][PER_ERA] = {
    {"Jean", "Pierre", "André", "Louis", "René", "Marcel", "Georges", "Henri", "Robert", "Roger",
     "Paul", "Maurice", "Raymond", "Lucien", "Joseph", "Fernand", "Émile", "Albert", "Gaston", "Léon",
     "Eugène", "Charles", "Jules", "Auguste", "Francis", "Roland", "Gilbert", "Raoul", "Édouard", "Armand",
     "Félix", "Adrien", "Alphonse", "Clément", "Victor", "Marius", "Ernest", "Gustave", "Léonce", "Jean-Baptiste",
     "Camille", "Antoine", "Émilien", "Firmin", "Honoré", "Octave", "Aimé", "Ferdinand", "Prosper", "François"},
    {"Michel", "Alain", "Jean-Pierre", "Gérard", "Bernard", "Daniel", "Patrick", "Philippe", "Christian", "Jacques",
     "Claude", "Jean-Claude", "Serge", "Dominique", "Didier", "Thierry", "Pascal", "Éric", "Jean-Luc", "Jean-Marc",
     "Jean-Louis", "Jean-Michel", "Joël", "Guy", "Yves", "Gilles", "Denis", "Bruno", "Hervé", "Laurent",
     "Frédéric", "Christophe", "Olivier", "Stéphane", "Patrice", "Jean-François", "Marc", "Régis", "Lionel", "Jean-Paul",
     "Jean-Jacques", "Jacky", "Gérald", "Fabrice", "Franck", "Jean-Yves", "Noël", "Jean-Marie", "Hugues", "Rémy"},
    {"Nicolas", "Sébastien", "Julien", "Cédric", "Mickaël", "Jérôme", "David", "Vincent", "Guillaume", "Anthony",
     "Romain", "Maxime", "Alexandre", "Kévin", "Jonathan", "Thomas", "Mathieu", "Benjamin", "Florian", "Jérémy",
     "Damien", "Ludovic", "Fabien", "Grégory", "Yannick", "Arnaud", "Aurélien", "Loïc", "Quentin", "Antoine",
     "Kevin", "Rémi", "Sylvain", "Samuel", "Jordan", "Dylan", "Yohann", "Bastien", "Pierre-Alexandre", "Benoît",
     "Cyril", "Emmanuel", "Xavier", "Mehdi", "Karim", "Valentin", "Steven", "Matthieu", "Tony", "Franck"},
    {"Lucas", "Hugo", "Léo", "Gabriel", "Louis", "Arthur", "Raphaël", "Jules", "Adam", "Nathan",
     "Enzo", "Ethan", "Tom", "Théo", "Noah", "Mathis", "Timéo", "Nolan", "Maël", "Sacha",
     "Paul", "Aaron", "Mohamed", "Axel", "Liam", "Evan", "Baptiste", "Matteo", "Gabin", "Noé",
     "Eliott", "Timothée", "Léon", "Rayan", "Yanis", "Ilyès", "Naël", "Lenny", "Mathéo", "Kylian",
     "Victor", "Martin", "Robin", "Côme", "Malo", "Ibrahim", "Ayoub", "Isaac", "Marius", "Jean-Gabriel"},
};
static const char *const GIVEN_F[ERAS][PER_ERA] = {
    {"Marie", "Jeanne", "Marguerite", "Germaine", "Louise", "Yvonne", "Madeleine", "Suzanne", "Marcelle", "Denise",
     "Simone", "Lucienne", "Paulette", "Andrée", "Odette", "Renée", "Hélène", "Juliette", "Berthe", "Alice",
     "Georgette", "Henriette", "Raymonde", "Gisèle", "Fernande", "Marthe", "Thérèse", "Colette", "Jacqueline", "Geneviève",
     "Yvette", "Huguette", "Irène", "Lucie", "Cécile", "Blanche", "Augustine", "Joséphine", "Eugénie", "Antoinette",
     "Léontine", "Mauricette", "Ginette", "Solange", "Émilienne", "Rolande", "Pierrette", "Ernestine", "Clémence", "Anne"},
    {"Monique", "Françoise", "Catherine", "Nathalie", "Isabelle", "Sylvie", "Martine", "Christine", "Nicole", "Brigitte",
     "Chantal", "Danielle", "Patricia", "Annie", "Dominique", "Michèle", "Valérie", "Véronique", "Sandrine", "Christiane",
     "Évelyne", "Marie-Claire", "Marie-Christine", "Anne-Marie", "Josiane", "Joëlle", "Corinne", "Pascale", "Béatrice", "Laurence",
     "Agnès", "Claudine", "Mireille", "Éliane", "Marie-Thérèse", "Jocelyne", "Muriel", "Florence", "Karine", "Élisabeth",
     "Maryse", "Bernadette", "Marie-France", "Ghislaine", "Viviane", "Arlette", "Francine", "Régine", "Claire", "Odile"},
    {"Céline", "Stéphanie", "Aurélie", "Émilie", "Julie", "Audrey", "Élodie", "Caroline", "Virginie", "Mélanie",
     "Laetitia", "Sophie", "Amandine", "Jessica", "Marion", "Camille", "Laura", "Sarah", "Anaïs", "Pauline",
     "Marine", "Élise", "Charlotte", "Mathilde", "Justine", "Morgane", "Delphine", "Vanessa", "Laure", "Marie-Laure",
     "Anne-Sophie", "Cindy", "Coralie", "Angélique", "Sabrina", "Gaëlle", "Alexandra", "Ophélie", "Manon", "Clémence",
     "Océane", "Amélie", "Chloé", "Lucie", "Émeline", "Fanny", "Jennifer", "Nadia", "Sonia", "Hélène"},
    {"Emma", "Jade", "Louise", "Alice", "Chloé", "Lina", "Léa", "Rose", "Anna", "Mila",
     "Inès", "Ambre", "Julia", "Mia", "Léna", "Manon", "Juliette", "Zoé", "Agathe", "Lou",
     "Léonie", "Éva", "Nina", "Romane", "Sarah", "Lola", "Camille", "Jeanne", "Margaux", "Clara",
     "Charlotte", "Héloïse", "Lya", "Maëlys", "Capucine", "Iris", "Victoire", "Adèle", "Gabrielle", "Alix",
     "Apolline", "Célia", "Yasmine", "Aya", "Lana", "Louna", "Éléna", "Maëlle", "Salomé", "Marie-Lou"},
};

/* ---- places -------------------------------------------------------------------------------- */

/* Metropolitan départements (Corsica apart): population in thousands (the weight), highest
 * commune number (approximate), the commune of the main maternity hub (a real COG commune). */
typedef struct gen_dept {
    char code[3];
    uint16_t pop;
    uint16_t ncom;
    uint16_t hub;
} gen_dept;

static const gen_dept DEPTS[] = {
    {"01", 660, 460, 53},   {"02", 530, 830, 408},  {"03", 335, 320, 190},  {"04", 165, 245, 70},
    {"05", 140, 185, 61},   {"06", 1090, 165, 88},  {"07", 330, 345, 186},  {"08", 270, 460, 105},
    {"09", 155, 340, 122},  {"10", 310, 440, 387},  {"11", 375, 440, 69},   {"12", 280, 305, 202},
    {"13", 2040, 120, 55},  {"14", 695, 770, 118},  {"15", 145, 260, 14},   {"16", 350, 425, 15},
    {"17", 655, 475, 300},  {"18", 300, 290, 33},   {"19", 240, 290, 272},  {"21", 535, 720, 231},
    {"22", 600, 390, 278},  {"23", 115, 265, 96},   {"24", 410, 600, 322},  {"25", 545, 630, 56},
    {"26", 520, 380, 362},  {"27", 600, 700, 229},  {"28", 430, 425, 85},   {"29", 915, 300, 19},
    {"30", 750, 355, 189},  {"31", 1420, 590, 555}, {"32", 190, 465, 13},   {"33", 1640, 550, 63},
    {"34", 1200, 345, 172}, {"35", 1090, 360, 238}, {"36", 215, 245, 44},   {"37", 610, 280, 261},
    {"38", 1280, 540, 185}, {"39", 260, 590, 300},  {"40", 415, 330, 192},  {"41", 330, 300, 18},
    {"42", 765, 335, 218},  {"43", 227, 260, 157},  {"44", 1440, 235, 109}, {"45", 680, 330, 234},
    {"46", 175, 350, 42},   {"47", 330, 320, 1},    {"48", 76, 200, 95},    {"49", 820, 380, 7},
    {"50", 495, 680, 502},  {"51", 565, 640, 454},  {"52", 170, 550, 121},  {"53", 307, 270, 130},
    {"54", 735, 600, 395},  {"55", 185, 580, 29},   {"56", 760, 265, 260},  {"57", 1045, 770, 463},
    {"58", 200, 310, 194},  {"59", 2610, 670, 350}, {"60", 830, 700, 57},   {"61", 280, 510, 1},
    {"62", 1465, 900, 41},  {"63", 665, 470, 113},  {"64", 690, 550, 445},  {"65", 230, 480, 440},
    {"66", 480, 230, 136},  {"67", 1145, 560, 482}, {"68", 765, 380, 224},  {"69", 1880, 300, 123},
    {"70", 235, 560, 550},  {"71", 550, 580, 270},  {"72", 565, 380, 181},  {"73", 440, 330, 65},
    {"74", 830, 330, 10},   {"75", 2130, 120, 56},  {"76", 1255, 760, 540}, {"77", 1430, 535, 288},
    {"78", 1450, 690, 646}, {"79", 375, 330, 191},  {"80", 570, 800, 21},   {"81", 390, 330, 4},
    {"82", 260, 200, 121},  {"83", 1080, 155, 137}, {"84", 560, 155, 7},    {"85", 690, 300, 191},
    {"86", 440, 300, 194},  {"87", 375, 205, 85},   {"88", 365, 530, 160},  {"89", 335, 460, 24},
    {"90", 140, 125, 10},   {"91", 1300, 690, 228}, {"92", 1625, 80, 50},   {"93", 1655, 80, 8},
    {"94", 1410, 81, 28},   {"95", 1250, 690, 127},
};
#define NDEPTS ((int)(sizeof DEPTS / sizeof DEPTS[0]))

/* Overseas départements: département (3 digits), weight, communes, hub commune (2 digits). */
static const gen_dept DOMS[] = {
    {"71", 385, 34, 20}, /* 971 Guadeloupe, 97120 Pointe-à-Pitre */
    {"72", 360, 34, 9},  /* 972 Martinique, 97209 Fort-de-France */
    {"73", 290, 22, 2},  /* 973 Guyane, 97302 Cayenne */
    {"74", 870, 24, 11}, /* 974 La Réunion, 97411 Saint-Denis */
    {"75", 6, 2, 2},     /* 975 Saint-Pierre-et-Miquelon, 97502 Saint-Pierre */
    {"76", 300, 17, 11}, /* 976 Mayotte (a département since 2011), 97611 Mamoudzou */
};
#define NDOMS ((int)(sizeof DOMS / sizeof DOMS[0]))

/* Countries of birth (INSEE country codes, written 99xxx), weighted like the French population
 * born abroad. */
static const struct {
    uint16_t code;
    uint16_t weight;
} COUNTRIES[] = {
    {352, 25}, /* Algérie */ {350, 20}, /* Maroc */ {139, 10}, /* Portugal */ {351, 8}, /* Tunisie */
    {127, 5},  /* Italie */  {134, 5},  /* Espagne */ {208, 4}, /* Turquie */ {109, 4}, /* Allemagne */
    {132, 3},  /* Royaume-Uni */ {131, 3}, /* Belgique */ {341, 3}, /* Sénégal */ {243, 2}, /* Viet Nam */
    {216, 2},  /* Chine */ {114, 2}, /* Roumanie */ {122, 1}, /* Pologne */ {140, 2}, /* Suisse */
    {401, 1},  /* Canada */ {404, 1}, /* États-Unis */ {135, 1}, /* Pays-Bas */ {137, 1}, /* Luxembourg */
};
#define NCOUNTRIES ((int)(sizeof COUNTRIES / sizeof COUNTRIES[0]))

/* Age pyramid in 5-year bands (age at the end of INS_GENERATE_LAST_YEAR), weights per 100000;
 * the last band covers ages 120-125 (births from 1900). */
static const uint32_t AGE_BANDS[] = {5000, 5600, 6000, 6100, 5800, 5500, 5900, 6200, 6300, 6200, 6600, 6500, 6300,
                                     5900, 5500, 4300, 3000, 2000, 1000, 300,  40,   5,    1,    1,    1};
#define NBANDS ((int)(sizeof AGE_BANDS / sizeof AGE_BANDS[0]))

/* The pseudo-random generator is base/rng.h (xoshiro256** seeded by splitmix64). */
typedef socle_rng gen_rng;

/* An index in [0, n) with a density falling smoothly from the first to the last by a factor
 * `ratio` (popular names first, the tail still common enough). */
static int rng_skewed(gen_rng *r, int n, double ratio)
{
    double v = (exp(rng_unit(r) * log(ratio)) - 1) / (ratio - 1);
    int k = (int)(v * n);
    return k < n ? k : n - 1;
}

/* ---- dates --------------------------------------------------------------------------------- */

/* Days from 1970-01-01 of a civil date and back (H. Hinnant's algorithms). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* ---- the generator ------------------------------------------------------------------------- */

typedef struct gen_person {
    char mat[16];      /* matricule, NUL-terminated */
    char od[16];       /* ouvrant droit matricule or "" */
    char place[6];     /* the 5 birth-place characters of the matricule */
    int16_t fam[2];    /* family name indexes; fam[1] = -1 unless a double name */
    int16_t given[4];  /* first names: era * PER_ERA + index */
    int8_t ngiven;
    char sex;          /* 'M' or 'F' */
    char nia;          /* sex digit 7/8 instead of 1/2 */
    int8_t rang;       /* 0 = empty */
    int16_t y;
    int8_t m, d;
    char past[16];     /* an earlier NIA (ins_historique) or "" */
} gen_person;

#define RING 1024     /* recent adults who may be a child's ouvrant droit */
#define MAXPEND 16    /* second halves of pairs waiting to be written */

typedef struct gen_parent {
    char mat[16];
    int16_t fam[2];
    int16_t y;
    char sex;
} gen_parent;

typedef struct gen {
    gen_rng rng;
    uint64_t *bloom;
    uint64_t nwords;
    uint32_t age_total, dept_total, dom_total, country_total;
    gen_parent ring[RING];
    int ring_n, ring_pos;
    gen_person pend[MAXPEND];
    uint64_t pend_due[MAXPEND];
    int npend;
} gen;

/* A 64-bit hash of the 13 characters of a matricule. */
static uint64_t mat_hash(const char *s)
{
    uint64_t a = 0, b = 0;
    memcpy(&a, s, 8);
    memcpy(&b, s + 8, 5);
    uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ rng_rotl(b * 0xc2b2ae3d27d4eb4fULL, 31);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/* Mark the 13 characters as used: 1 if they were free, 0 if (maybe) taken already. */
static int mat_claim(gen *g, const char *s)
{
    uint64_t h = mat_hash(s);
    uint64_t w = (uint64_t)(((unsigned __int128)h * g->nwords) >> 64);
    uint64_t mask = (1ULL << (h & 63)) | (1ULL << ((h >> 6) & 63)) | (1ULL << ((h >> 12) & 63)) |
                    (1ULL << ((h >> 18) & 63));
    if ((g->bloom[w] & mask) == mask) return 0;
    g->bloom[w] |= mask;
    return 1;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

static void put3(char *p, int v)
{
    p[0] = (char)('0' + v / 100 % 10);
    put2(p + 1, v);
}

/* Build a unique matricule for sex digit sd, year/month y m, place; order numbers tried are
 * `hint` first (when > 0) then random ones. Returns the order number, or 0 when none was free. */
static int mat_make(gen *g, char out[16], char sd, int y, int m, const char *place, int hint)
{
    char s[16];
    s[0] = sd;
    put2(s + 1, y % 100);
    put2(s + 3, m);
    memcpy(s + 5, place, 5);
    for (int attempt = 0; attempt < 48; attempt++) {
        int order = attempt == 0 && hint > 0 && hint < 1000 ? hint : 1 + (int)rng_below(&g->rng, 999);
        put3(s + 10, order);
        if (!mat_claim(g, s)) continue;
        put2(s + 13, ins_matricule_key(s));
        s[15] = 0;
        memcpy(out, s, 16);
        return order;
    }
    return 0;
}

/* An index into a table of départements, weighted by population. */
static int dept_pick(gen_rng *r, uint32_t total, const gen_dept *t, int n)
{
    uint32_t x = rng_below(r, total);
    int i = 0;
    while (i < n - 1 && x >= t[i].pop) x -= t[i++].pop;
    return i;
}

static void place_abroad(gen *g, char place[6])
{
    uint32_t x = rng_below(&g->rng, g->country_total);
    int i = 0;
    while (i < NCOUNTRIES - 1 && x >= COUNTRIES[i].weight) x -= COUNTRIES[i++].weight;
    place[0] = '9';
    place[1] = '9';
    put3(place + 2, COUNTRIES[i].code);
    place[5] = 0;
}

/* Draw a birth place (5 characters of the matricule) for someone born on y-m-d. */
static void place_draw(gen *g, const gen_person *p, char place[6])
{
    gen_rng *r = &g->rng;
    double u = rng_unit(r);
    if (u < 0.01) { /* unknown: born abroad, country unknown */
        memcpy(place, "99999", 6);
        return;
    }
    if (p->nia || u < 0.08) { /* born abroad (NIA-like registrations always are) */
        place_abroad(g, place);
        return;
    }
    int birthday = p->y * 10000 + p->m * 100 + p->d;
    if (u < 0.085) { /* Corsica: "20" before the 1976 split, then 2A Corse-du-Sud / 2B Haute-Corse */
        int south = rng_below(r, 2) == 0;
        int hub = rng_below(r, 2) == 0;
        int commune = hub ? (south ? 4 : 33) : 1 + (int)rng_below(r, south ? 362 : 366);
        place[0] = '2';
        place[1] = birthday < 19760101 ? '0' : south ? 'A' : 'B';
        put3(place + 2, commune);
        place[5] = 0;
        return;
    }
    if (u < 0.11) { /* overseas: 97x + 2-digit commune */
        int i;
        do i = dept_pick(r, g->dom_total, DOMS, NDOMS);
        while (i == NDOMS - 1 && p->y < 2012);
        const gen_dept *d = &DOMS[i];
        int commune = rng_below(r, 2) == 0 ? d->hub : 1 + (int)rng_below(r, d->ncom);
        place[0] = '9';
        place[1] = '7';
        place[2] = d->code[1];
        put2(place + 3, commune);
        place[5] = 0;
        return;
    }
    const gen_dept *d = &DEPTS[dept_pick(r, g->dept_total, DEPTS, NDEPTS)];
    int commune;
    if (!strcmp(d->code, "75"))
        commune = 101 + (int)rng_below(r, 20); /* Paris: the 20 arrondissements 75101-75120 */
    else if (rng_below(r, 5) < 2)              /* 40 %: the département's main maternity town */
        commune = !strcmp(d->code, "13")   ? 201 + (int)rng_below(r, 16) /* Marseille 13201-13216 */
                  : !strcmp(d->code, "69") ? 381 + (int)rng_below(r, 9)  /* Lyon 69381-69389 */
                                           : d->hub;
    else
        commune = 1 + (int)rng_below(r, d->ncom);
    place[0] = d->code[0];
    place[1] = d->code[1];
    put3(place + 2, commune);
    place[5] = 0;
}

/* Birth date from the age pyramid; ages in [min_age, max_age] when max_age >= 0. */
static void date_draw(gen *g, gen_person *p, int min_age, int max_age)
{
    gen_rng *r = &g->rng;
    int age;
    if (max_age >= 0) {
        age = min_age + (int)rng_below(r, (uint32_t)(max_age - min_age + 1));
    } else {
        uint32_t x = rng_below(r, g->age_total);
        int band = 0;
        while (band < NBANDS - 1 && x >= AGE_BANDS[band]) x -= AGE_BANDS[band++];
        age = band * 5 + (int)rng_below(r, band == NBANDS - 1 ? 6 : 5);
    }
    int y = INS_GENERATE_LAST_YEAR - age;
    int64_t first = days_from_civil(y, 1, 1), len = days_from_civil(y + 1, 1, 1) - first;
    int yy, mm, dd;
    civil_from_days(first + rng_below(r, (uint32_t)len), &yy, &mm, &dd);
    p->y = (int16_t)yy;
    p->m = (int8_t)mm;
    p->d = (int8_t)dd;
}

static void sex_draw(gen *g, gen_person *p)
{
    int age = INS_GENERATE_LAST_YEAR - p->y;
    double f = age < 60 ? 0.49 : age < 80 ? 0.54 : age < 90 ? 0.63 : 0.75;
    p->sex = rng_unit(&g->rng) < f ? 'F' : 'M';
}

static int era_of(int y) { return y < 1945 ? 0 : y < 1975 ? 1 : y < 2000 ? 2 : 3; }

static const char *given_name(char sex, int16_t v)
{
    return sex == 'F' ? GIVEN_F[v / PER_ERA][v % PER_ERA] : GIVEN_M[v / PER_ERA][v % PER_ERA];
}

/* 1 to 4 birth first names: the usual one mostly from the era of birth, the others from that era or
 * before it (classic names more often), no repeats. */
static void given_draw(gen *g, gen_person *p)
{
    gen_rng *r = &g->rng;
    int era = era_of(p->y);
    uint32_t x = rng_below(r, 100);
    /* Older generations had more first names. */
    p->ngiven = (int8_t)(era <= 1 ? (x < 15 ? 1 : x < 50 ? 2 : x < 90 ? 3 : 4) : (x < 30 ? 1 : x < 75 ? 2 : x < 96 ? 3 : 4));
    for (int i = 0; i < p->ngiven; i++) {
        for (int attempt = 0; attempt < 8; attempt++) {
            int e;
            double u = rng_unit(r);
            if (i == 0)
                e = u < 0.8 ? era : u < 0.9 && era > 0 ? era - 1 : (int)rng_below(r, ERAS);
            else /* the following names: classic ones, or of the era of birth or the one before */
                e = u < 0.5 ? 0 : u < 0.8 || era == 0 ? era : era - 1;
            int16_t v = (int16_t)(e * PER_ERA + rng_skewed(r, PER_ERA, i == 0 ? 8.0 : 25.0));
            const char *name = given_name(p->sex, v);
            int dup = 0;
            for (int j = 0; j < i; j++) dup |= !strcmp(given_name(p->sex, p->given[j]), name);
            p->given[i] = v;
            if (!dup) break;
        }
    }
    /* An unlucky run of repeats: drop the trailing duplicate rather than write it. */
    for (int i = 1; i < p->ngiven; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(given_name(p->sex, p->given[j]), given_name(p->sex, p->given[i]))) {
                p->ngiven = (int8_t)i;
                return;
            }
}

static void family_draw(gen *g, gen_person *p)
{
    gen_rng *r = &g->rng;
    p->fam[0] = (int16_t)rng_skewed(r, NFAMILY, 12.0);
    p->fam[1] = -1;
    /* Double names became common with the 2005 reform of name transmission. */
    if (rng_unit(r) < (p->y >= 2005 ? 0.08 : 0.01)) {
        int16_t b = (int16_t)rng_skewed(r, NFAMILY, 12.0);
        if (b != p->fam[0]) p->fam[1] = b;
    }
}

/* The ouvrant droit of a child born in year y: a recent adult of the file of a plausible age
 * (taking their family name most of the time), else a valid matricule of nobody in the file. */
static void parent_draw(gen *g, gen_person *p, int take_name)
{
    gen_rng *r = &g->rng;
    for (int attempt = 0; g->ring_n && attempt < 8; attempt++) {
        const gen_parent *par = &g->ring[rng_below(r, (uint32_t)g->ring_n)];
        int gap = p->y - par->y;
        if (gap < 18 || gap > 45) continue;
        memcpy(p->od, par->mat, 16);
        if (take_name && rng_unit(r) < (par->sex == 'M' ? 0.9 : 0.45)) memcpy(p->fam, par->fam, sizeof p->fam);
        return;
    }
    gen_person par;
    memset(&par, 0, sizeof par);
    par.y = (int16_t)(p->y - 20 - (int)rng_below(r, 20));
    par.m = (int8_t)(1 + rng_below(r, 12));
    par.d = 1;
    char place[6];
    for (int attempt = 0; attempt < 16; attempt++) {
        place_draw(g, &par, place);
        if (mat_make(g, p->od, rng_below(r, 2) ? '1' : '2', par.y, par.m, place, 0)) return;
    }
    p->od[0] = 0; /* saturated: leave the carte Vitale data empty */
}

static void remember_adult(gen *g, const gen_person *p)
{
    gen_parent *par = &g->ring[g->ring_pos];
    memcpy(par->mat, p->mat, 16);
    memcpy(par->fam, p->fam, sizeof par->fam);
    par->y = p->y;
    par->sex = p->sex;
    g->ring_pos = (g->ring_pos + 1) % RING;
    if (g->ring_n < RING) g->ring_n++;
}

static char sex_digit(const gen_person *p) { return p->nia ? (p->sex == 'M' ? '7' : '8') : (p->sex == 'M' ? '1' : '2'); }

/* Place and matricule; the place is drawn again when its order numbers look used up. */
static int person_matricule(gen *g, gen_person *p, socle_err *err)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        place_draw(g, p, p->place);
        if (mat_make(g, p->mat, sex_digit(p), p->y, p->m, p->place, 0)) return 0;
    }
    return socle_err_set(err, SOCLE_EINTERNAL, "could not find a free matricule (the place and month tables are saturated)");
}

/* Carte Vitale data by age: children a parent's, adults their own (70 %) or none. */
static void vitale_draw(gen *g, gen_person *p, int take_name)
{
    int age = INS_GENERATE_LAST_YEAR - p->y;
    double u = rng_unit(&g->rng);
    p->od[0] = 0;
    p->rang = 0;
    if (age < 16 || (age < 18 && u < 0.5)) {
        parent_draw(g, p, take_name);
        p->rang = p->od[0] ? 1 : 0;
    } else if (u < 0.7) {
        memcpy(p->od, p->mat, 16);
        p->rang = 1;
        if (age >= 20 && age <= 55) remember_adult(g, p);
    }
}

static int person_draw(gen *g, gen_person *p, socle_err *err)
{
    memset(p, 0, sizeof *p);
    date_draw(g, p, 0, -1);
    sex_draw(g, p);
    p->nia = rng_unit(&g->rng) < 0.03;
    family_draw(g, p);
    given_draw(g, p);
    int rc = person_matricule(g, p, err);
    if (rc) return rc;
    vitale_draw(g, p, 1); /* a child mostly bears the name of its ouvrant droit parent */
    return 0;
}

/* Twins under 16: same date, place, family name and ouvrant droit, ranks 1 and 2, consecutive
 * order numbers when free. Returns 1 with both filled, 0 when the second matricule was not found. */
static int twins_draw(gen *g, gen_person *a, gen_person *b, socle_err *err)
{
    memset(a, 0, sizeof *a);
    date_draw(g, a, 0, 15);
    sex_draw(g, a);
    family_draw(g, a);
    parent_draw(g, a, 1);
    *b = *a;
    given_draw(g, a);
    int rc = person_matricule(g, a, err);
    if (rc) return rc;
    sex_draw(g, b);
    for (int attempt = 0; attempt < 16; attempt++) { /* twins do not share their usual first name */
        given_draw(g, b);
        if (b->sex != a->sex || strcmp(given_name(a->sex, a->given[0]), given_name(b->sex, b->given[0]))) break;
    }
    memcpy(b->place, a->place, 6);
    int order = (a->mat[10] - '0') * 100 + (a->mat[11] - '0') * 10 + (a->mat[12] - '0');
    if (!mat_make(g, b->mat, sex_digit(b), b->y, b->m, b->place, order + 1)) {
        a->rang = a->od[0] ? 1 : 0;
        return 0;
    }
    a->rang = a->od[0] ? 1 : 0;
    b->rang = a->od[0] ? 2 : 0;
    return 1;
}

/* Exact homonyms: a second person with the same five traits and another matricule. */
static int homonym_draw(gen *g, gen_person *a, gen_person *b, socle_err *err)
{
    int rc = person_draw(g, a, err);
    if (rc) return rc;
    *b = *a;
    if (!mat_make(g, b->mat, sex_digit(b), b->y, b->m, b->place, 0)) return 0;
    vitale_draw(g, b, 0);
    return 1;
}

/* past_draw - for about 1 % of the persons with a NIR (chosen by a hash of the matricule, so the
 * PRNG stream is untouched), an earlier NIA of the same birth month and place: sex digit 7/8, an
 * order number from the hash, unique in the file; none when no order number tried is free. */
static void past_draw(gen *g, gen_person *p)
{
    p->past[0] = 0;
    if (p->nia) return;
    uint64_t h = mat_hash(p->mat);
    if (h % 100 != 0) return;
    char s[16];
    memcpy(s, p->mat, 16);
    s[0] = p->sex == 'M' ? '7' : '8';
    for (int attempt = 0; attempt < 8; attempt++) {
        put3(s + 10, 1 + (int)((h >> (8 + attempt * 6)) % 999));
        if (!mat_claim(g, s)) continue;
        put2(s + 13, ins_matricule_key(s));
        s[15] = 0;
        memcpy(p->past, s, 16);
        return;
    }
}

/* ---- output -------------------------------------------------------------------------------- */

static char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* A CSV field: quoted (with doubled quotes) only when it holds a comma, a quote or a line break. */
static char *put_field(char *p, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) return put_str(p, s);
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"') *p++ = '"';
        *p++ = *s;
    }
    *p++ = '"';
    return p;
}

static int person_write(FILE *out, const gen_person *p)
{
    char line[1024], name[160], given[320];
    char *q = put_str(name, FAMILY[p->fam[0]]);
    if (p->fam[1] >= 0) {
        *q++ = '-';
        q = put_str(q, FAMILY[p->fam[1]]);
    }
    *q = 0;
    q = given;
    for (int i = 0; i < p->ngiven; i++) {
        if (i) *q++ = ' ';
        q = put_str(q, given_name(p->sex, p->given[i]));
    }
    *q = 0;
    q = line;
    q = put_str(q, p->mat);
    *q++ = ',';
    q = put_str(q, INS_OID_NIR_TEST);
    *q++ = ',';
    q = put_field(q, name);
    *q++ = ',';
    q = put_field(q, given);
    *q++ = ',';
    *q++ = p->sex;
    *q++ = ',';
    put2(q, p->y / 100);
    put2(q + 2, p->y % 100);
    q[4] = '-';
    put2(q + 5, p->m);
    q[7] = '-';
    put2(q + 8, p->d);
    q += 10;
    *q++ = ',';
    if (strcmp(p->place, "99999")) q = put_str(q, p->place);
    *q++ = ',';
    q = put_str(q, p->od);
    *q++ = ',';
    if (p->rang) *q++ = (char)('0' + p->rang);
    *q++ = ',';
    if (p->past[0]) {
        q = put_str(q, p->past);
        *q++ = ':';
        q = put_str(q, INS_OID_NIR_TEST);
    }
    *q++ = '\n';
    return fwrite_unlocked(line, 1, (size_t)(q - line), out) == (size_t)(q - line) ? 0 : -1;
}

int ins_generate(FILE *out, uint64_t count, uint64_t seed, void (*progress)(uint64_t done, void *ctx), void *ctx,
                 socle_err *err)
{
    if (count > INS_GENERATE_MAX_COUNT)
        return socle_err_set(err, SOCLE_EINVAL, "count must be at most %llu",
                             (unsigned long long)INS_GENERATE_MAX_COUNT);
    gen *g = calloc(1, sizeof *g);
    if (!g) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    rng_seed(&g->rng, seed);
    /* 12 bits per line (lines and the few parents outside the file): a small false-positive rate. */
    g->nwords = count * 12 / 64 + 4096;
    g->bloom = calloc(g->nwords, sizeof *g->bloom);
    if (!g->bloom) {
        free(g);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory (%llu lines)", (unsigned long long)count);
    }
    for (int i = 0; i < NBANDS; i++) g->age_total += AGE_BANDS[i];
    for (int i = 0; i < NDEPTS; i++) g->dept_total += DEPTS[i].pop;
    for (int i = 0; i < NDOMS; i++) g->dom_total += DOMS[i].pop;
    for (int i = 0; i < NCOUNTRIES; i++) g->country_total += COUNTRIES[i].weight;

    int rc = 0, io_failed = 0;
    uint64_t done = 0;
    flockfile(out);
    io_failed = fputs_unlocked(INS_GENERATE_HEADER "\n", out) == EOF;
    while (!rc && !io_failed && done < count) {
        gen_person a, b;
        int due = -1;
        for (int i = 0; i < g->npend; i++)
            if (g->pend_due[i] <= done || done + (uint64_t)g->npend >= count) {
                due = i;
                break;
            }
        if (due >= 0) {
            a = g->pend[due];
            g->pend[due] = g->pend[g->npend - 1];
            g->pend_due[due] = g->pend_due[g->npend - 1];
            g->npend--;
        } else {
            double u = rng_unit(&g->rng);
            int room = count - done - (uint64_t)g->npend >= 2 && g->npend < MAXPEND, pair = 0;
            if (room && u < 0.0025)
                pair = twins_draw(g, &a, &b, err);
            else if (room && u < 0.0035)
                pair = homonym_draw(g, &a, &b, err);
            else
                pair = person_draw(g, &a, err);
            if (pair < 0) {
                rc = pair; /* err is filled */
                break;
            }
            if (pair == 1) {
                g->pend[g->npend] = b;
                g->pend_due[g->npend] = done + 1 + rng_below(&g->rng, 40);
                g->npend++;
            }
        }
        past_draw(g, &a);
        io_failed = person_write(out, &a) != 0;
        done++;
        if (progress && !(done & 0xffff)) progress(done, ctx);
    }
    if (!rc && (io_failed || fflush_unlocked(out) || ferror_unlocked(out)))
        rc = socle_err_set(err, SOCLE_EIO, "write failed: %s", strerror(errno ? errno : EIO));
    funlockfile(out);
    if (!rc && progress && (done & 0xffff)) progress(done, ctx);
    free(g->bloom);
    free(g);
    return rc;
}
