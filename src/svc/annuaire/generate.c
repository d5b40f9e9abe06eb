/* generate.c - the synthetic health-directory extracts: embedded tables (communes, professions,
 * specialities, names, streets), a seeded PRNG, establishments with FINESS/SIRET generated first
 * (FINESS file and their ORG/APP mailboxes), then the professionals streamed with their activities
 * (PS file) and PER mailboxes (MSSanté file). Formats and conventions are listed in generate.h.
 *
 * Code values taken from real extracts seen in public parsers: civilité M/MME, civilité d'exercice
 * DR Docteur, catégorie C Civil, type savoir-faire S Spécialité ordinale, modes L/S/B (label
 * "Lib,indép,artis,com" as in the real file), SA07 Cabinet individuel, SA42 Appareillage médical,
 * autorités "CNOM/CNOM/CNOM" and "ARS/CPAM/CPAM", FINESS category 355 C.H. / 1102, APE 8610Z, MFT
 * 03, SPH 1, technical structure ids "C"+SIRET with former id "3"+SIRET. Plausible but NOT checked
 * against a source: the other SAxx labels, the other FINESS categories, the pharmacist sections'
 * labels, the MSSanté "Dématérialisation" values (true/false) and "Type identifiant structure"
 * (we write the IDNST prefix digit, and the whole IDNST in "Identification Structure"), the
 * country code 99100 for France, "F"+FINESS technical ids, ADELI département "20" for Corsica and
 * "97" overseas. The COG and postal codes of the communes are given as known, not checked. */
#include "base/rng.h"
#include "svc/annuaire/generate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svc/annuaire/keys.h"

/* ---- tables -------------------------------------------------------------------------------- */

typedef struct gen_commune {
    const char *cog, *cp, *name, *slug, *dept, *dept_label, *phone;
    uint16_t weight; /* population, thousands (the pull on professionals) */
} gen_commune;

static const gen_commune COMMUNES[] = {
    {"75105", "75005", "PARIS", "paris-5", "75", "Paris", "01", 150},
    {"75113", "75013", "PARIS", "paris-13", "75", "Paris", "01", 180},
    {"75115", "75015", "PARIS", "paris-15", "75", "Paris", "01", 230},
    {"75118", "75018", "PARIS", "paris-18", "75", "Paris", "01", 190},
    {"13205", "13005", "MARSEILLE", "marseille", "13", "Bouches-du-Rhône", "04", 870},
    {"69383", "69003", "LYON", "lyon", "69", "Rhône", "04", 520},
    {"31555", "31000", "TOULOUSE", "toulouse", "31", "Haute-Garonne", "05", 500},
    {"06088", "06000", "NICE", "nice", "06", "Alpes-Maritimes", "04", 340},
    {"44109", "44000", "NANTES", "nantes", "44", "Loire-Atlantique", "02", 320},
    {"34172", "34000", "MONTPELLIER", "montpellier", "34", "Hérault", "04", 300},
    {"67482", "67000", "STRASBOURG", "strasbourg", "67", "Bas-Rhin", "03", 290},
    {"33063", "33000", "BORDEAUX", "bordeaux", "33", "Gironde", "05", 260},
    {"59350", "59000", "LILLE", "lille", "59", "Nord", "03", 235},
    {"35238", "35000", "RENNES", "rennes", "35", "Ille-et-Vilaine", "02", 225},
    {"51454", "51100", "REIMS", "reims", "51", "Marne", "03", 180},
    {"42218", "42000", "SAINT-ÉTIENNE", "saint-etienne", "42", "Loire", "04", 175},
    {"76351", "76600", "LE HAVRE", "le-havre", "76", "Seine-Maritime", "02", 165},
    {"83137", "83000", "TOULON", "toulon", "83", "Var", "04", 180},
    {"38185", "38000", "GRENOBLE", "grenoble", "38", "Isère", "04", 160},
    {"21231", "21000", "DIJON", "dijon", "21", "Côte-d'Or", "03", 160},
    {"49007", "49000", "ANGERS", "angers", "49", "Maine-et-Loire", "02", 155},
    {"30189", "30000", "NÎMES", "nimes", "30", "Gard", "04", 150},
    {"63113", "63000", "CLERMONT-FERRAND", "clermont-ferrand", "63", "Puy-de-Dôme", "04", 147},
    {"72181", "72000", "LE MANS", "le-mans", "72", "Sarthe", "02", 145},
    {"13001", "13100", "AIX-EN-PROVENCE", "aix-en-provence", "13", "Bouches-du-Rhône", "04", 145},
    {"29019", "29200", "BREST", "brest", "29", "Finistère", "02", 140},
    {"37261", "37000", "TOURS", "tours", "37", "Indre-et-Loire", "02", 137},
    {"80021", "80000", "AMIENS", "amiens", "80", "Somme", "03", 134},
    {"87085", "87000", "LIMOGES", "limoges", "87", "Haute-Vienne", "05", 130},
    {"25056", "25000", "BESANÇON", "besancon", "25", "Doubs", "03", 120},
    {"45234", "45000", "ORLÉANS", "orleans", "45", "Loiret", "02", 117},
    {"57463", "57000", "METZ", "metz", "57", "Moselle", "03", 120},
    {"76540", "76000", "ROUEN", "rouen", "76", "Seine-Maritime", "02", 115},
    {"14118", "14000", "CAEN", "caen", "14", "Calvados", "02", 108},
    {"54395", "54000", "NANCY", "nancy", "54", "Meurthe-et-Moselle", "03", 105},
    {"86194", "86000", "POITIERS", "poitiers", "86", "Vienne", "05", 90},
    {"64445", "64000", "PAU", "pau", "64", "Pyrénées-Atlantiques", "05", 77},
    {"66136", "66000", "PERPIGNAN", "perpignan", "66", "Pyrénées-Orientales", "04", 120},
    {"17300", "17000", "LA ROCHELLE", "la-rochelle", "17", "Charente-Maritime", "05", 77},
    {"01053", "01000", "BOURG-EN-BRESSE", "bourg-en-bresse", "01", "Ain", "04", 42},
    {"74010", "74000", "ANNECY", "annecy", "74", "Haute-Savoie", "04", 130},
    {"56260", "56000", "VANNES", "vannes", "56", "Morbihan", "02", 54},
    {"22278", "22000", "SAINT-BRIEUC", "saint-brieuc", "22", "Côtes-d'Armor", "02", 45},
    {"12202", "12000", "RODEZ", "rodez", "12", "Aveyron", "05", 24},
    {"15014", "15000", "AURILLAC", "aurillac", "15", "Cantal", "04", 25},
    {"48095", "48000", "MENDE", "mende", "48", "Lozère", "04", 12},
    {"92012", "92100", "BOULOGNE-BILLANCOURT", "boulogne-billancourt", "92", "Hauts-de-Seine", "01", 120},
    {"93066", "93200", "SAINT-DENIS", "saint-denis-93", "93", "Seine-Saint-Denis", "01", 113},
    {"94028", "94000", "CRÉTEIL", "creteil", "94", "Val-de-Marne", "01", 92},
    {"78646", "78000", "VERSAILLES", "versailles", "78", "Yvelines", "01", 85},
    {"91228", "91000", "ÉVRY-COURCOURONNES", "evry-courcouronnes", "91", "Essonne", "01", 66},
    {"95127", "95000", "CERGY", "cergy", "95", "Val-d'Oise", "01", 66},
    {"77288", "77000", "MELUN", "melun", "77", "Seine-et-Marne", "01", 41},
    {"2A004", "20000", "AJACCIO", "ajaccio", "2A", "Corse-du-Sud", "04", 72},
    {"2B033", "20200", "BASTIA", "bastia", "2B", "Haute-Corse", "04", 48},
    {"97101", "97139", "LES ABYMES", "les-abymes", "971", "Guadeloupe", "0590", 53},
    {"97209", "97200", "FORT-DE-FRANCE", "fort-de-france", "972", "Martinique", "0596", 76},
    {"97302", "97300", "CAYENNE", "cayenne", "973", "Guyane", "0594", 63},
    {"97411", "97400", "SAINT-DENIS", "saint-denis-974", "974", "La Réunion", "0262", 150},
};
#define NCOMMUNES ((int)(sizeof COMMUNES / sizeof COMMUNES[0]))

static const struct {
    const char *code, *label;
} VOIE_TYPES[] = {{"R", "Rue"},    {"R", "Rue"},   {"R", "Rue"},     {"AV", "Avenue"}, {"AV", "Avenue"},
                  {"BD", "Boulevard"}, {"PL", "Place"}, {"CHE", "Chemin"}, {"ALL", "Allée"}, {"IMP", "Impasse"},
                  {"QU", "Quai"},  {"RTE", "Route"}};
#define NVOIE_TYPES ((int)(sizeof VOIE_TYPES / sizeof VOIE_TYPES[0]))

static const char *const STREETS[] = {
    "DE LA REPUBLIQUE", "VICTOR HUGO",     "JEAN JAURES",   "DU GENERAL DE GAULLE", "PASTEUR",       "DES LILAS",
    "DU MOULIN",        "DE LA GARE",      "DES ECOLES",    "DU CHATEAU",           "NATIONALE",     "DE PARIS",
    "GAMBETTA",         "JULES FERRY",     "DU 8 MAI 1945", "DE LA PAIX",           "DES TILLEULS",  "DU STADE",
    "DE LA LIBERATION", "FOCH",            "CARNOT",        "DES ROSIERS",          "DE L'EGLISE",   "DU COMMERCE",
    "DES FLEURS",       "SAINT-MARTIN",    "DES ACACIAS",   "DE LA FONTAINE",       "DES PEUPLIERS", "DU PORT",
    "CLEMENCEAU",       "PIERRE CURIE",    "MARIE CURIE",   "ANATOLE FRANCE",       "DES VIGNES",    "DU LAVOIR",
    "DE VERDUN",        "DES CHENES",      "DU PRESSOIR",   "DES PRES",
};
#define NSTREETS ((int)(sizeof STREETS / sizeof STREETS[0]))

/* Family names: a syllable and an ending (uppercase ASCII, as the extracts write names). */
static const char *const FAM_HEAD[] = {"BEL", "MOR", "DUR", "LAN", "VER",  "CHAR", "GAL", "ROCH", "FON", "MAR",
                                       "BER", "COUR", "SAU", "VIL", "MONT", "PEL",  "BOU", "CHAU", "LAV", "TESS",
                                       "GRAN", "BRU", "FAV", "RIV", "DEL",  "LOR",  "MEL", "PRE",  "SOL", "TAR"};
static const char *const FAM_TAIL[] = {"ARD", "ET",   "IER",   "AND", "OT",   "EAU",  "IN",  "ON",   "AULT", "ELLE",
                                       "AC",  "OUX", "AS",    "VILLE", "COURT", "MONT", "ERON", "IAUX", "ESSE", "ANT"};
#define NHEAD ((int)(sizeof FAM_HEAD / sizeof FAM_HEAD[0]))
#define NTAIL ((int)(sizeof FAM_TAIL / sizeof FAM_TAIL[0]))
#define NFAM (NHEAD * NTAIL)

#define NGIVEN 40
static const char *const GIVEN[2][NGIVEN] = {
    {"JEAN",    "PIERRE",   "MICHEL",    "PHILIPPE", "ALAIN",  "NICOLAS",  "LAURENT",   "THOMAS",
     "JULIEN",  "ANTOINE",  "FRANCOIS",  "OLIVIER",  "DAVID",  "ERIC",     "STEPHANE",  "CHRISTOPHE",
     "SEBASTIEN", "MATHIEU", "GUILLAUME", "VINCENT", "MAXIME", "ALEXANDRE", "PAUL",     "HUGO",
     "LUCAS",   "ROMAIN",   "BENOIT",    "CEDRIC",   "FABRICE", "DIDIER",  "PATRICK",   "BRUNO",
     "YANN",    "KARIM",    "MEHDI",     "JEROME",   "XAVIER", "ARNAUD",   "DAMIEN",    "GILLES"},
    {"MARIE",   "NATHALIE", "ISABELLE",  "SYLVIE",   "CATHERINE", "SOPHIE", "CELINE",   "JULIE",
     "AURELIE", "CAROLINE", "CHRISTINE", "VALERIE",  "SANDRINE", "STEPHANIE", "EMILIE", "CAMILLE",
     "LAURA",   "PAULINE",  "MANON",     "CLAIRE",   "ANNE",   "HELENE",   "AGNES",     "ELODIE",
     "VIRGINIE", "MELANIE", "CHLOE",     "SARAH",    "LEA",    "EMMA",     "INES",      "NADIA",
     "FATIMA",  "KARINE",   "MURIEL",    "FLORENCE", "BEATRICE", "CORINNE", "LAETITIA", "AMELIE"},
};

/* How a profession practises (drives the choice of structures and modes). */
enum { PR_MED, PR_PHARMA, PR_NURSE, PR_LIBERAL, PR_DENT, PR_SF, PR_HOSP, PR_LAB, PR_SHOP, PR_ASSDENT };

typedef struct gen_prof {
    const char *code, *label, *slug, *authority;
    uint16_t weight;   /* per 10000 professionals */
    uint16_t female;   /* per 1000 */
    uint8_t rpps_only; /* an RPPS profession (else ADELI, half of them migrated to RPPS) */
    uint8_t profile;
    uint8_t doctor; /* civilité d'exercice DR */
} gen_prof;

/* TRE_G15 codes and labels (identifiers.md); médecins the most common. */
static const gen_prof PROFS[] = {
    {"10", "Médecin", "medecin", "CNOM/CNOM/CNOM", 3000, 500, 1, PR_MED, 1},
    {"60", "Infirmier", "infirmier", "CNOI/CNOI/CNOI", 2400, 870, 1, PR_NURSE, 0},
    {"70", "Masseur-Kinésithérapeute", "masseur-kinesitherapeute", "CNOMK/CNOMK/CNOMK", 800, 500, 1, PR_LIBERAL, 0},
    {"21", "Pharmacien", "pharmacien", "CNOP/CNOP/CNOP", 750, 680, 1, PR_PHARMA, 1},
    {"40", "Chirurgien-Dentiste", "chirurgien-dentiste", "CNOCD/CNOCD/CNOCD", 450, 470, 1, PR_DENT, 1},
    {"50", "Sage-Femme", "sage-femme", "CNOSF/CNOSF/CNOSF", 250, 970, 1, PR_SF, 0},
    {"80", "Pédicure-Podologue", "pedicure-podologue", "CNOPP/CNOPP/CNOPP", 130, 700, 1, PR_LIBERAL, 0},
    {"91", "Orthophoniste", "orthophoniste", "ARS/CPAM/CPAM", 250, 960, 0, PR_LIBERAL, 0},
    {"98", "Manipulateur ERM", "manipulateur-erm", "ARS/ARS/ARS", 300, 700, 0, PR_HOSP, 0},
    {"28", "Opticien-Lunetier", "opticien-lunetier", "ARS/ARS/ARS", 350, 550, 0, PR_SHOP, 0},
    {"86", "Technicien de laboratoire médical", "technicien-labo", "ARS/ARS/ARS", 300, 800, 0, PR_LAB, 0},
    {"94", "Ergothérapeute", "ergotherapeute", "ARS/ARS/ARS", 140, 870, 0, PR_HOSP, 0},
    {"96", "Psychomotricien", "psychomotricien", "ARS/ARS/ARS", 120, 880, 0, PR_LIBERAL, 0},
    {"95", "Diététicien", "dieteticien", "ARS/ARS/ARS", 120, 930, 0, PR_LIBERAL, 0},
    {"92", "Orthoptiste", "orthoptiste", "ARS/CPAM/CPAM", 60, 900, 0, PR_LIBERAL, 0},
    {"26", "Audioprothésiste", "audioprothesiste", "ARS/CPAM/CPAM", 50, 450, 0, PR_SHOP, 0},
    {"31", "Assistant dentaire", "assistant-dentaire", "ARS/ARS/ARS", 250, 950, 0, PR_ASSDENT, 0},
    {"32", "Physicien médical", "physicien-medical", "ARS/ARS/ARS", 10, 400, 0, PR_HOSP, 0},
    {"69", "Infirmier psychiatrique", "infirmier-psy", "ARS/ARS/ARS", 20, 600, 0, PR_HOSP, 0},
    {"81", "Orthoprothésiste", "orthoprothesiste", "ARS/CPAM/CPAM", 5, 200, 0, PR_SHOP, 0},
    {"82", "Podo-Orthésiste", "podo-orthesiste", "ARS/CPAM/CPAM", 5, 300, 0, PR_SHOP, 0},
    {"83", "Oculariste", "oculariste", "ARS/CPAM/CPAM", 1, 300, 0, PR_SHOP, 0},
    {"84", "Epithésiste", "epithesiste", "ARS/CPAM/CPAM", 1, 500, 0, PR_SHOP, 0},
    {"85", "Orthopédiste-Orthésiste", "orthopediste-orthesiste", "ARS/CPAM/CPAM", 9, 300, 0, PR_SHOP, 0},
};
#define NPROFS ((int)(sizeof PROFS / sizeof PROFS[0]))

/* Médecins' savoir-faire (spécialités ordinales, TRE_R38), weights per 1000. */
static const struct {
    const char *code, *label;
    uint16_t weight;
} SPECS[] = {
    {"SM53", "Spécialiste en Médecine Générale", 300},
    {"SM26", "Qualifié en Médecine Générale", 120},
    {"SM54", "Médecine Générale", 80},
    {"SM02", "Anesthésie-réanimation", 50},
    {"SM42", "Psychiatrie", 60},
    {"SM04", "Cardiologie et maladies vasculaires", 40},
    {"SM40", "Pédiatrie", 40},
    {"SM59", "Médecine d'urgence", 40},
    {"SM44", "Radio-diagnostic", 40},
    {"SM38", "Ophtalmologie", 30},
    {"SM20", "Gynécologie-obstétrique", 30},
    {"SM15", "Dermatologie et vénéréologie", 20},
    {"SM24", "Gastro-entérologie et hépatologie", 20},
    {"SM08", "Chirurgie orthopédique et traumatologie", 20},
    {"SM18", "Gériatrie", 20},
    {"SM25", "Médecine du travail", 20},
    {"SM14", "Chirurgie viscérale et digestive", 15},
    {"SM32", "Neurologie", 15},
    {"SM41", "Pneumologie", 15},
    {"SM48", "Rhumatologie", 15},
    {"SM03", "Biologie médicale", 15},
    {"SM34", "O.R.L et chirurgie cervico faciale", 15},
    {"SM01", "Anatomie et cytologie pathologiques", 10},
    {"SM27", "Médecine interne", 10},
    {"SM30", "Néphrologie", 10},
    {"SM49", "Santé publique et médecine sociale", 10},
};
#define NSPECS ((int)(sizeof SPECS / sizeof SPECS[0]))

/* Structure kinds. The first five have a FINESS number and are listed in the FINESS file. */
enum { K_CH, K_CLINIC, K_LAB, K_PHARMA, K_CDS, K_CAB_IND, K_CAB_GRP, K_SHOP, NKINDS };
#define NFINESS_KINDS 5

static const struct {
    const char *sector, *sector_label; /* SAxx */
    const char *cat, *cat_label, *agr, *agr_label, *ape, *mft, *mft_label, *sph, *sph_label;
    const char *slug;     /* mailbox domain head */
    uint16_t per_100k;    /* establishments per 100000 professionals */
} KINDS[NKINDS] = {
    {"SA01", "Etablissement public de santé", "355", "Centre Hospitalier (C.H.)", "1102", "Centres Hospitaliers",
     "8610Z", "03", "ARS établissements Publics de santé dotation globale", "1", "Etablissement public de santé", "ch",
     180},
    {"SA04", "Etablissement privé non PSPH", "365", "Etablissement de Soins Pluridisciplinaire", "1106",
     "Etablissements de Soins Pluridisciplinaires", "8610Z", "", "", "", "", "clinique", 70},
    {"SA25", "Laboratoire de biologie médicale", "611", "Laboratoire de Biologie Médicale", "2202",
     "Laboratoires de Biologie Médicale", "8690B", "", "", "", "", "labo", 250},
    {"SA33", "Pharmacie d'officine", "620", "Pharmacie d'Officine", "3401", "Pharmacies d'Officine", "4773Z", "",
     "", "", "", "pharmacie", 1200},
    {"SA05", "Centre de santé", "124", "Centre de Santé", "2204", "Centres de Santé", "8690D", "", "", "", "", "cds",
     120},
    {"SA07", "Cabinet individuel", "", "", "", "", "", "", "", "", "", "", 0},
    {"SA08", "Cabinet de groupe", "", "", "", "", "", "", "", "", "", "", 0},
    {"SA42", "Appareillage médical", "", "", "", "", "", "", "", "", "", "", 0},
};

static const char *const SERVICES[][2] = {
    {"Cardiologie", "cardiologie"}, {"Urgences", "urgences"},   {"Pédiatrie", "pediatrie"},
    {"Radiologie", "radiologie"},   {"Maternité", "maternite"}, {"Gériatrie", "geriatrie"},
    {"Chirurgie", "chirurgie"},     {"Psychiatrie", "psychiatrie"}, {"Oncologie", "oncologie"},
    {"Pharmacie à usage intérieur", "pui"},
};
#define NSERVICES ((int)(sizeof SERVICES / sizeof SERVICES[0]))

static const char *const PLACE_NAMES[] = {"DU CENTRE", "DE LA GARE", "DES TILLEULS", "DU MARCHE", "SAINT-MICHEL",
                                          "DES ARCADES", "DU PARC",   "DE LA MAIRIE", "DU PONT",   "DES HALLES",
                                          "SAINTE-ANNE", "DU LAC",    "DES VIGNES",   "DU CHATEAU", "PASTEUR"};
#define NPLACE_NAMES ((int)(sizeof PLACE_NAMES / sizeof PLACE_NAMES[0]))

/* The pseudo-random generator is base/rng.h (xoshiro256** seeded by splitmix64). */
typedef socle_rng gen_rng;

/* ---- output: a line buffer flushed to a FILE ----------------------------------------------- */

#define WBUF (1u << 20)
#define LINE_MAX_BYTES 8192 /* no generated line comes near this */

typedef struct wout {
    FILE *f;
    char *buf;
    size_t len;
    int failed;
} wout;

static void w_flush(wout *w)
{
    if (w->len && !w->failed && fwrite(w->buf, 1, w->len, w->f) != w->len) w->failed = 1;
    w->len = 0;
}

/* Start a line: make room for a whole one. */
static inline void w_line(wout *w)
{
    if (w->len + LINE_MAX_BYTES > WBUF) w_flush(w);
}

static inline void w_ch(wout *w, char c) { w->buf[w->len++] = c; }

static inline void w_str(wout *w, const char *s)
{
    size_t n = strlen(s);
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

/* A field and the separator after it. */
static inline void w_f(wout *w, const char *s, char sep)
{
    w_str(w, s);
    w_ch(w, sep);
}

/* n empty fields. */
static inline void w_e(wout *w, int n, char sep)
{
    while (n-- > 0) w_ch(w, sep);
}

/* ---- identifiers --------------------------------------------------------------------------- */

static void put_digits(char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* A bijection of [0, 10^n): multiply by a unit of Z/10^n and add an offset, so numbers look
 * scattered yet never repeat. */
static uint64_t scatter(uint64_t x, uint64_t mod, uint64_t mul, uint64_t add) { return (x * mul + add) % mod; }

/* ---- the generator ------------------------------------------------------------------------- */

typedef struct gen_struct {
    uint8_t kind, commune, voie_type, indice; /* indice: 0, 'B' or 'T' */
    uint16_t street, number, site, serial;    /* site: 1.. within its legal entity; serial per commune+kind */
    uint16_t name;                             /* index into PLACE_NAMES or a family name */
    uint8_t bp, bat;                           /* BP number / 10, building letter (0 none) */
    char finess[10], finess_ej[10], siret[15];
    char phone[11], fax[11];
    uint16_t open_year;
} gen_struct;

typedef struct gen_pro {
    char idtype; /* '8' RPPS, '0' ADELI */
    char id[12];
    int prof, female, fam[2], given, spec, cat, civex; /* spec -1 none; civex 0 none, 1 DR, 2 PR */
    int commune;
} gen_pro;

typedef struct gen_act {
    gen_struct st;
    char mode; /* L S B */
    int section; /* pharmacists: 'A' 'D' 'G' 'H', else 0 */
} gen_act;

typedef struct gen {
    gen_rng rng;
    uint32_t commune_total;
    uint64_t siren_private, siren_public, rpps_next;
    uint32_t fin_eg[NCOMMUNES], fin_ej[NCOMMUNES]; /* per département (index of its first commune) */
    int dept_of[NCOMMUNES], adeli_dept_of[NCOMMUNES]; /* first commune of the same (ADELI) département */
    uint16_t serial[NCOMMUNES][NKINDS];
    uint16_t adeli[NCOMMUNES][NPROFS];
    gen_struct *est;                      /* FINESS establishments, grouped by commune then kind */
    uint32_t nest, est_start[NCOMMUNES][NFINESS_KINDS], est_count[NCOMMUNES][NFINESS_KINDS];
    gen_struct group[NCOMMUNES];          /* the group cabinet being filled in each commune */
    int group_left[NCOMMUNES];
    uint64_t *mbox;                       /* open-addressing set of mailbox hashes (0 = empty) */
    uint64_t mbox_mask;
    wout ps, mss, fin;
    annuaire_gen_stats stats;
    uint32_t prof_total, spec_total;
} gen;

static int weighted_commune(gen *g)
{
    uint32_t x = rng_below(&g->rng, g->commune_total);
    int i = 0;
    while (i < NCOMMUNES - 1 && x >= COMMUNES[i].weight) x -= COMMUNES[i++].weight;
    return i;
}

/* The département part of a FINESS number: 2 characters (3 overseas: 97x). */
static const char *finess_dept(int c) { return COMMUNES[c].dept; }

/* A FINESS number in commune c: département, a per-département counter, the Luhn key (for
 * Corsica the key is computed as if the département were 20: no rule is known). */
static void make_finess(gen *g, int c, int legal, char out[10])
{
    const char *d = finess_dept(c);
    size_t dl = strlen(d);
    uint32_t *ctr = legal ? &g->fin_ej[g->dept_of[c]] : &g->fin_eg[g->dept_of[c]];
    uint32_t v = (*ctr)++ + (legal ? 780000u : 1u);
    memcpy(out, d, dl);
    put_digits(out + dl, v, (int)(8 - dl));
    char tmp[9];
    memcpy(tmp, out, 8);
    if (tmp[1] == 'A' || tmp[1] == 'B') tmp[1] = '0';
    out[8] = (char)('0' + annuaire_luhn_key(tmp, 8));
    out[9] = 0;
}

/* A SIREN: public health establishments start with 26 (as real ones do), others with 3-9. */
static void make_siren(gen *g, int public_, char out[10])
{
    if (public_ && g->siren_public < 1000000) {
        out[0] = '2';
        out[1] = '6';
        put_digits(out + 2, scatter(g->siren_public++, 1000000, 7919, 104729), 6);
    } else {
        for (;;) {
            uint64_t c = g->siren_private++;
            out[0] = (char)('3' + (c / 10000000) % 7);
            put_digits(out + 1, scatter(c % 10000000, 10000000, 4256233, 1299709), 7);
            if (memcmp(out, "35600000", 8)) break; /* never La Poste's SIREN */
        }
    }
    out[8] = (char)('0' + annuaire_luhn_key(out, 8));
    out[9] = 0;
}

/* SIRET = SIREN + 4-digit establishment number + Luhn key. */
static void make_siret(const char siren[10], int site, char out[15])
{
    memcpy(out, siren, 9);
    put_digits(out + 9, (uint64_t)site, 4);
    out[13] = (char)('0' + annuaire_luhn_key(out, 13));
    out[14] = 0;
}

static void make_phone(gen *g, int c, char out[11])
{
    const char *p = COMMUNES[c].phone;
    size_t n = strlen(p);
    memcpy(out, p, n);
    put_digits(out + n, rng_next(&g->rng) % 100000000ULL, (int)(10 - n));
    if (n == 2 && out[2] == '0') out[2] = '4'; /* no 0x0 area numbers */
    out[10] = 0;
}

/* Address, phone and counters common to every structure. */
static void struct_base(gen *g, gen_struct *s, int kind, int c)
{
    memset(s, 0, sizeof *s);
    s->kind = (uint8_t)kind;
    s->commune = (uint8_t)c;
    s->voie_type = (uint8_t)rng_below(&g->rng, NVOIE_TYPES);
    s->street = (uint16_t)rng_below(&g->rng, NSTREETS);
    s->number = (uint16_t)(1 + rng_below(&g->rng, rng_chance(&g->rng, 700) ? 60 : 250));
    s->indice = rng_chance(&g->rng, 40) ? (rng_chance(&g->rng, 700) ? 'B' : 'T') : 0;
    s->serial = ++g->serial[c][kind];
    s->name = (uint16_t)rng_below(&g->rng, NPLACE_NAMES);
    s->bp = rng_chance(&g->rng, 50) ? (uint8_t)(1 + rng_below(&g->rng, 250)) : 0;
    s->open_year = (uint16_t)(1960 + rng_below(&g->rng, 64));
    make_phone(g, c, s->phone);
}

static void slug_into(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) {
        char ch = *s;
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        else if (ch == ' ' || ch == '\'') ch = '-';
        out[n++] = ch;
    }
    out[n] = 0;
}

/* The mailbox domain of an establishment: <kind>-<commune>-<serial of its legal entity>. */
static void est_domain(const gen_struct *s, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%s-%u." ANNUAIRE_GEN_MSS_DOMAIN, KINDS[s->kind].slug, COMMUNES[s->commune].slug,
             (unsigned)s->serial);
}

static void family_name(const int fam[2], char *out, size_t cap)
{
    if (fam[1] >= 0)
        snprintf(out, cap, "%s%s-%s%s", FAM_HEAD[fam[0] / NTAIL], FAM_TAIL[fam[0] % NTAIL], FAM_HEAD[fam[1] / NTAIL],
                 FAM_TAIL[fam[1] % NTAIL]);
    else snprintf(out, cap, "%s%s", FAM_HEAD[fam[0] / NTAIL], FAM_TAIL[fam[0] % NTAIL]);
}

/* Short and long names of a structure. pro is the practitioner of an individual cabinet. */
static void struct_names(const gen_struct *s, const gen_pro *pro, char *rs, size_t cap, char *longname, size_t lcap)
{
    const char *town = COMMUNES[s->commune].name, *place = PLACE_NAMES[s->name % NPLACE_NAMES];
    char fam[64];
    switch (s->kind) {
    case K_CH:
        snprintf(rs, cap, "CH %s SITE %u", town, (unsigned)s->site);
        snprintf(longname, lcap, "CENTRE HOSPITALIER DE %s SITE %s", town, place);
        break;
    case K_CLINIC:
        snprintf(rs, cap, "CLINIQUE %s", place);
        snprintf(longname, lcap, "CLINIQUE %s %s", place, town);
        break;
    case K_LAB:
        snprintf(rs, cap, "LBM %s SITE %u", place, (unsigned)s->site);
        snprintf(longname, lcap, "LABORATOIRE DE BIOLOGIE MEDICALE %s %s", place, town);
        break;
    case K_PHARMA:
        snprintf(rs, cap, "PHARMACIE %s", place);
        snprintf(longname, lcap, "PHARMACIE %s %s", place, town);
        break;
    case K_CDS:
        snprintf(rs, cap, "CENTRE DE SANTE %s", place);
        snprintf(longname, lcap, "CENTRE DE SANTE %s %s", place, town);
        break;
    case K_CAB_IND:
        family_name(pro->fam, fam, sizeof fam);
        snprintf(rs, cap, "CABINET %s %s", pro->civex ? "DR" : pro->female ? "MME" : "M", fam);
        snprintf(longname, lcap, "%s", rs);
        break;
    case K_CAB_GRP:
        snprintf(rs, cap, "MAISON DE SANTE %s", place);
        snprintf(longname, lcap, "MAISON DE SANTE PLURIPROFESSIONNELLE %s %s", place, town);
        break;
    default:
        snprintf(rs, cap, "%s %s", pro && PROFS[pro->prof].code[0] == '2' ? "AUDITION" : "OPTIQUE", place);
        snprintf(longname, lcap, "%s", rs);
        break;
    }
}

/* ---- mailboxes ----------------------------------------------------------------------------- */

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h | 1; /* never 0, the empty mark */
}

/* Claim a mailbox: 1 if it was free (now taken), 0 if taken already. */
static int mbox_claim(gen *g, const char *addr)
{
    uint64_t h = str_hash(addr), i = h & g->mbox_mask;
    while (g->mbox[i]) {
        if (g->mbox[i] == h) return 0;
        i = (i + 1) & g->mbox_mask;
    }
    g->mbox[i] = h;
    return 1;
}

/* Build a unique mailbox local@domain, adding 2, 3, ... to local when needed. */
static void mbox_unique(gen *g, const char *local, const char *domain, char *out, size_t cap)
{
    snprintf(out, cap, "%s@%s", local, domain);
    for (unsigned k = 2; !mbox_claim(g, out); k++) snprintf(out, cap, "%s%u@%s", local, k, domain);
}

/* The structure part of an MSSanté line, from "Raison Sociale structure BAL" to the end. */
static void mss_struct_tail(wout *w, const gen_struct *s, const gen_pro *pro)
{
    char rs[160], lname[200], buf[32];
    const gen_commune *c = &COMMUNES[s->commune];
    struct_names(s, pro, rs, sizeof rs, lname, sizeof lname);
    w_f(w, rs, '|');
    w_f(w, s->kind == K_SHOP ? rs : "", '|');
    if (s->bat) {
        snprintf(buf, sizeof buf, "BATIMENT %c", s->bat);
        w_f(w, buf, '|');
    } else w_e(w, 1, '|');
    if (s->bp) {
        snprintf(buf, sizeof buf, "BP %u", (unsigned)s->bp * 10);
        w_f(w, buf, '|');
    } else w_e(w, 1, '|');
    snprintf(buf, sizeof buf, "%u", (unsigned)s->number);
    w_f(w, buf, '|');
    buf[0] = (char)s->indice;
    buf[1] = 0;
    w_f(w, buf, '|');
    w_f(w, VOIE_TYPES[s->voie_type].code, '|');
    w_f(w, STREETS[s->street], '|');
    w_e(w, 1, '|');
    w_str(w, c->cp);
    w_ch(w, ' ');
    w_f(w, c->name, '|');
    w_f(w, c->cp, '|');
    w_f(w, c->dept, '|');
    w_f(w, "99100", '|');
}

/* IDNST of a structure: 1 + FINESS site when it has one, else 3 + SIRET. */
static void struct_idnst(const gen_struct *s, char *out, size_t cap)
{
    if (s->finess[0]) snprintf(out, cap, "1%s", s->finess);
    else snprintf(out, cap, "3%s", s->siret);
}

/* An ORG or APP mailbox line of an establishment. */
static void mss_org(gen *g, const gen_struct *s, const char *type, const char *local, const char *service)
{
    char domain[128], addr[200], idnst[40];
    est_domain(s, domain, sizeof domain);
    mbox_unique(g, local, domain, addr, sizeof addr);
    struct_idnst(s, idnst, sizeof idnst);
    wout *w = &g->mss;
    w_line(w);
    w_f(w, type, '|');
    w_f(w, addr, '|');
    w_e(w, 3, '|');
    w_f(w, idnst[0] == '1' ? "1" : "3", '|');
    w_f(w, idnst, '|');
    w_f(w, service, '|');
    w_e(w, 9, '|');
    w_f(w, "true", '|');
    mss_struct_tail(w, s, NULL);
    w_ch(w, '\n');
    g->stats.mailboxes++;
}

/* ---- establishments and the FINESS file ---------------------------------------------------- */

static void finess_line(gen *g, const gen_struct *s)
{
    wout *w = &g->fin;
    const gen_commune *c = &COMMUNES[s->commune];
    char rs[160], lname[200], buf[64];
    struct_names(s, NULL, rs, sizeof rs, lname, sizeof lname);
    w_line(w);
    w_f(w, "structureet", ';');
    w_f(w, s->finess, ';');
    w_f(w, s->finess_ej, ';');
    w_f(w, rs, ';');
    w_f(w, lname, ';');
    w_e(w, 2, ';'); /* complrs, compldistrib */
    snprintf(buf, sizeof buf, "%u", (unsigned)s->number);
    w_f(w, buf, ';');
    w_f(w, VOIE_TYPES[s->voie_type].code, ';');
    w_f(w, STREETS[s->street], ';');
    buf[0] = (char)s->indice;
    buf[1] = 0;
    w_f(w, buf, ';');
    if (s->bp) {
        snprintf(buf, sizeof buf, "BP %u", (unsigned)s->bp * 10);
        w_f(w, buf, ';');
    } else w_e(w, 1, ';');
    w_f(w, c->cog + strlen(c->cog) - 3, ';');
    w_f(w, c->dept, ';');
    w_str(w, c->dept_label);
    w_ch(w, ';');
    w_str(w, c->cp);
    w_ch(w, ' ');
    w_f(w, c->name, ';');
    w_f(w, s->phone, ';');
    w_f(w, s->fax, ';');
    w_f(w, KINDS[s->kind].cat, ';');
    w_f(w, KINDS[s->kind].cat_label, ';');
    w_f(w, KINDS[s->kind].agr, ';');
    w_f(w, KINDS[s->kind].agr_label, ';');
    w_f(w, s->siret, ';');
    w_f(w, KINDS[s->kind].ape, ';');
    w_f(w, KINDS[s->kind].mft, ';');
    w_f(w, KINDS[s->kind].mft_label, ';');
    w_f(w, KINDS[s->kind].sph, ';');
    w_f(w, KINDS[s->kind].sph_label, ';');
    snprintf(buf, sizeof buf, "%04u-%02u-%02u;%04u-%02u-%02u;2025-0%u-%02u;", (unsigned)s->open_year,
             1 + (unsigned)(s->street % 12), 1 + (unsigned)(s->number % 28), (unsigned)s->open_year,
             1 + (unsigned)(s->street % 12), 1 + (unsigned)(s->number % 28), 1 + (unsigned)(s->serial % 5),
             1 + (unsigned)(s->name % 28));
    w_str(w, buf); /* dateouv, dateautor, datemaj, then the empty numuai */
    w_ch(w, '\n');
    g->stats.structures++;
}

/* Create the establishments of every commune (count scaled on the number of professionals), write
 * them to the FINESS file and their ORG/APP mailboxes to the MSSanté file. */
static int make_establishments(gen *g, uint64_t count)
{
    uint32_t cap = 0;
    uint32_t want[NCOMMUNES][NFINESS_KINDS];
    for (int c = 0; c < NCOMMUNES; c++)
        for (int k = 0; k < NFINESS_KINDS; k++) {
            double total = (double)count * KINDS[k].per_100k / 100000.0;
            uint32_t n = (uint32_t)(total * COMMUNES[c].weight / g->commune_total + 0.5);
            want[c][k] = n ? n : 1;
            cap += want[c][k];
        }
    g->est = calloc(cap, sizeof *g->est);
    if (!g->est) return SOCLE_ENOMEM;
    for (int c = 0; c < NCOMMUNES; c++)
        for (int k = 0; k < NFINESS_KINDS; k++) {
            g->est_start[c][k] = g->nest;
            uint32_t made = 0;
            while (made < want[c][k]) {
                /* One legal entity and its sites (hospitals up to 3, labs up to 4, others 1). */
                int sites = k == K_CH ? 1 + (int)rng_below(&g->rng, 3) : k == K_LAB ? 1 + (int)rng_below(&g->rng, 4) : 1;
                if ((uint32_t)sites > want[c][k] - made) sites = (int)(want[c][k] - made);
                char ej[10], siren[10];
                make_finess(g, c, 1, ej);
                make_siren(g, k == K_CH, siren);
                gen_struct first;
                for (int s = 1; s <= sites; s++) {
                    gen_struct *st = &g->est[g->nest++];
                    struct_base(g, st, k, c);
                    if (s == 1) first = *st;
                    else {
                        st->serial = first.serial; /* the legal entity's number, shared by its sites */
                        g->serial[c][k]--;
                    }
                    st->site = (uint16_t)s;
                    memcpy(st->finess_ej, ej, 10);
                    make_finess(g, c, 0, st->finess);
                    make_siret(siren, s, st->siret);
                    if (k == K_CH) {
                        st->bat = rng_chance(&g->rng, 300) ? (uint8_t)('A' + rng_below(&g->rng, 4)) : 0;
                        make_phone(g, c, st->fax);
                    }
                    finess_line(g, st);
                    if (k == K_CH) {
                        int nserv = 2 + (int)rng_below(&g->rng, 4), first_serv = (int)rng_below(&g->rng, NSERVICES);
                        for (int j = 0; j < nserv; j++) {
                            const char *const *sv = SERVICES[(first_serv + j) % NSERVICES];
                            char local[64];
                            snprintf(local, sizeof local, "secretariat.%s.site%d", sv[1], s);
                            mss_org(g, st, "ORG", local, sv[0]);
                        }
                    } else if (k == K_LAB) {
                        char local[64];
                        snprintf(local, sizeof local, "resultats.site%d", s);
                        mss_org(g, st, "ORG", local, "Biologie");
                        if (s == 1) mss_org(g, st, "APP", "automate", "");
                    } else if (k == K_CDS) {
                        mss_org(g, st, "ORG", "accueil", "Accueil");
                    }
                }
                made += (uint32_t)sites;
            }
            g->est_count[c][k] = g->nest - g->est_start[c][k];
        }
    return 0;
}

/* ---- professionals ------------------------------------------------------------------------- */

/* The 2 département characters of an ADELI number: "20" for Corsica, "97" overseas. */
static void adeli_dept(int c, char out[2])
{
    const char *d = COMMUNES[c].dept;
    if (d[1] == 'A' || d[1] == 'B') memcpy(out, "20", 2);
    else memcpy(out, d, 2);
}

static void make_pro(gen *g, uint64_t index, gen_pro *p)
{
    gen_rng *r = &g->rng;
    uint32_t x = rng_below(r, g->prof_total);
    int i = 0;
    while (i < NPROFS - 1 && x >= PROFS[i].weight) x -= PROFS[i++].weight;
    const gen_prof *pf = &PROFS[i];
    p->prof = i;
    p->female = rng_below(r, 1000) < pf->female;
    p->fam[0] = (int)rng_below(r, NFAM);
    p->fam[1] = rng_chance(r, 60) ? (int)rng_below(r, NFAM) : -1;
    p->given = (int)rng_below(r, NGIVEN);
    p->commune = weighted_commune(g);
    p->spec = -1;
    if (pf->profile == PR_MED) {
        uint32_t y = rng_below(r, g->spec_total);
        int j = 0;
        while (j < NSPECS - 1 && y >= SPECS[j].weight) y -= SPECS[j++].weight;
        p->spec = j;
    }
    p->civex = pf->doctor ? 1 : 0;
    p->cat = 'C';
    if (rng_chance(r, 10)) p->cat = 'M';
    else if (pf->doctor && rng_chance(r, 20)) p->cat = 'E';
    /* Identifier: RPPS ("10" + 8 scattered digits + key), or ADELI for half of the ADELI
     * professions (département, profession, order number, Luhn key). */
    int adeli = !pf->rpps_only && rng_chance(r, 500);
    if (adeli) {
        uint16_t *n = &g->adeli[g->adeli_dept_of[p->commune]][i];
        if (*n >= 9999) adeli = 0;
        else {
            char *o = p->id;
            adeli_dept(p->commune, o);
            memcpy(o + 2, pf->code, 2);
            put_digits(o + 4, (uint64_t)(++*n), 4);
            o[8] = (char)('0' + annuaire_luhn_key(o, 8));
            o[9] = 0;
            p->idtype = '0';
        }
    }
    if (!adeli) {
        memcpy(p->id, "10", 2);
        put_digits(p->id + 2, scatter(index, 100000000ULL, 48271, 20240601), 8);
        p->id[10] = (char)('0' + annuaire_luhn_key(p->id, 10));
        p->id[11] = 0;
        p->idtype = '8';
    }
}

/* A FINESS establishment of kind k near commune c (c itself when it has one). */
static const gen_struct *pick_est(gen *g, int c, int k)
{
    if (!g->est_count[c][k]) c = weighted_commune(g);
    uint32_t n = g->est_count[c][k];
    return &g->est[g->est_start[c][k] + rng_below(&g->rng, n)];
}

/* A cabinet for a liberal practitioner: individual (own SIRET) or a share of a group cabinet. */
static void pick_cabinet(gen *g, int c, int kind, gen_struct *out)
{
    char siren[10];
    if (kind == K_CAB_GRP) {
        if (g->group_left[c] <= 0) {
            struct_base(g, &g->group[c], K_CAB_GRP, c);
            make_siren(g, 0, siren);
            make_siret(siren, 1, g->group[c].siret);
            g->group_left[c] = 2 + (int)rng_below(&g->rng, 8);
        }
        g->group_left[c]--;
        *out = g->group[c];
        return;
    }
    struct_base(g, out, kind, c);
    make_siren(g, 0, siren);
    make_siret(siren, 1 + (int)rng_below(&g->rng, 3), out->siret);
}

/* Choose the structure and mode of one activity. */
static void make_activity(gen *g, const gen_pro *p, int nth, gen_act *a)
{
    gen_rng *r = &g->rng;
    int c = nth == 0 || rng_chance(r, 700) ? p->commune : weighted_commune(g);
    uint32_t u = rng_below(r, 1000);
    int kind, liberal;
    switch (PROFS[p->prof].profile) {
    case PR_MED:
        kind = u < 250 ? K_CAB_IND : u < 450 ? K_CAB_GRP : u < 780 ? K_CH : u < 900 ? K_CLINIC : u < 960 ? K_CDS : K_LAB;
        break;
    case PR_PHARMA: kind = u < 620 ? K_PHARMA : u < 850 ? K_CH : u < 950 ? K_LAB : K_CLINIC; break;
    case PR_NURSE: kind = u < 550 ? K_CH : u < 700 ? K_CLINIC : u < 850 ? K_CAB_IND : u < 960 ? K_CAB_GRP : K_CDS; break;
    case PR_DENT: kind = u < 600 ? K_CAB_IND : u < 900 ? K_CAB_GRP : K_CDS; break;
    case PR_SF: kind = u < 550 ? K_CH : u < 650 ? K_CLINIC : u < 850 ? K_CAB_IND : K_CAB_GRP; break;
    case PR_HOSP: kind = u < 700 ? K_CH : u < 900 ? K_CLINIC : K_CAB_IND; break;
    case PR_LAB: kind = u < 800 ? K_LAB : K_CH; break;
    case PR_SHOP: kind = u < 850 ? K_SHOP : K_CH; break;
    case PR_ASSDENT: kind = u < 550 ? K_CAB_GRP : u < 850 ? K_CAB_IND : K_CDS; break;
    default: kind = u < 600 ? K_CAB_IND : u < 850 ? K_CAB_GRP : u < 950 ? K_CH : K_CDS; break;
    }
    if (kind < NFINESS_KINDS) a->st = *pick_est(g, c, kind);
    else pick_cabinet(g, c, kind, &a->st);
    /* Mode: cabinets and pharmacies are mostly liberal, establishments salaried. */
    if (kind == K_CAB_IND || kind == K_CAB_GRP) liberal = PROFS[p->prof].profile != PR_ASSDENT && !rng_chance(r, 80);
    else if (kind == K_PHARMA) liberal = rng_chance(r, 400);
    else if (kind == K_SHOP) liberal = rng_chance(r, 350);
    else liberal = kind == K_CLINIC && rng_chance(r, 300);
    a->mode = rng_chance(r, 8) ? 'B' : liberal ? 'L' : 'S';
    a->section = 0;
    if (PROFS[p->prof].profile == PR_PHARMA)
        a->section = kind == K_PHARMA ? (a->mode == 'L' ? 'A' : 'D') : kind == K_LAB ? 'G' : 'H';
}

static const char *mode_label(char m) { return m == 'L' ? "Lib,indép,artis,com" : m == 'S' ? "Salarié" : "Bénévole"; }

static const char *section_label(int s)
{
    switch (s) {
    case 'A': return "Pharmaciens titulaires d'officine";
    case 'D': return "Pharmaciens adjoints d'officine et autres exercices";
    case 'G': return "Pharmaciens biologistes";
    default: return "Pharmaciens des établissements de santé";
    }
}

static void ps_line(gen *g, const gen_pro *p, const gen_act *a)
{
    wout *w = &g->ps;
    const gen_prof *pf = &PROFS[p->prof];
    const gen_struct *s = &a->st;
    const gen_commune *c = &COMMUNES[s->commune];
    char fam[64], rs[160], lname[200], buf[64];
    family_name(p->fam, fam, sizeof fam);
    struct_names(s, p, rs, sizeof rs, lname, sizeof lname);
    w_line(w);
    buf[0] = p->idtype;
    buf[1] = 0;
    w_f(w, buf, '|');
    w_f(w, p->id, '|');
    w_ch(w, p->idtype);
    w_f(w, p->id, '|');
    if (p->civex) {
        int pr = p->civex == 2;
        w_f(w, pr ? "PR" : "DR", '|');
        w_f(w, pr ? "Professeur" : "Docteur", '|');
    } else w_e(w, 2, '|');
    w_f(w, p->female ? "MME" : "M", '|');
    w_f(w, p->female ? "Madame" : "Monsieur", '|');
    w_f(w, fam, '|');
    w_f(w, GIVEN[p->female][p->given], '|');
    w_f(w, pf->code, '|');
    w_f(w, pf->label, '|');
    buf[0] = (char)p->cat;
    buf[1] = 0;
    w_f(w, buf, '|');
    w_f(w, p->cat == 'C' ? "Civil" : p->cat == 'M' ? "Militaire" : "Etudiant", '|');
    if (p->spec >= 0) {
        w_f(w, "S", '|');
        w_f(w, "Spécialité ordinale", '|');
        w_f(w, SPECS[p->spec].code, '|');
        w_f(w, SPECS[p->spec].label, '|');
    } else w_e(w, 4, '|');
    buf[0] = a->mode;
    buf[1] = 0;
    w_f(w, buf, '|');
    w_f(w, mode_label(a->mode), '|');
    w_f(w, s->siret, '|');
    w_e(w, 1, '|'); /* SIREN site: empty when the SIRET is given, as in real lines */
    w_f(w, s->finess, '|');
    w_f(w, s->finess_ej, '|');
    if (s->finess[0]) {
        w_ch(w, 'F');
        w_f(w, s->finess, '|');
    } else {
        w_ch(w, 'C');
        w_f(w, s->siret, '|');
    }
    w_f(w, rs, '|');
    w_f(w, s->kind == K_SHOP || s->kind == K_PHARMA ? rs : "", '|');
    w_f(w, s->kind == K_CAB_IND ? rs : "", '|');
    if (s->bat) {
        snprintf(buf, sizeof buf, "BATIMENT %c", s->bat);
        w_f(w, buf, '|');
    } else w_e(w, 1, '|');
    snprintf(buf, sizeof buf, "%u", (unsigned)s->number);
    w_f(w, buf, '|');
    buf[0] = (char)s->indice;
    buf[1] = 0;
    w_f(w, buf, '|');
    w_f(w, VOIE_TYPES[s->voie_type].code, '|');
    w_f(w, VOIE_TYPES[s->voie_type].label, '|');
    w_f(w, STREETS[s->street], '|');
    if (s->bp) {
        snprintf(buf, sizeof buf, "BP %u", (unsigned)s->bp * 10);
        w_f(w, buf, '|');
    } else w_e(w, 1, '|');
    w_str(w, c->cp);
    w_ch(w, ' ');
    w_f(w, c->name, '|');
    w_f(w, c->cp, '|');
    w_f(w, c->cog, '|');
    w_f(w, c->name, '|');
    w_f(w, "99100", '|');
    w_f(w, "France", '|');
    w_f(w, s->phone, '|');
    w_e(w, 1, '|');
    w_f(w, s->fax, '|');
    w_e(w, 1, '|'); /* e-mail of the structure: left empty */
    w_f(w, c->dept, '|');
    w_f(w, c->dept_label, '|');
    if (s->finess[0]) {
        w_ch(w, '1');
        w_f(w, s->finess, '|');
    } else {
        w_ch(w, '3');
        w_f(w, s->siret, '|');
    }
    w_f(w, pf->authority, '|');
    w_f(w, KINDS[s->kind].sector, '|');
    w_f(w, KINDS[s->kind].sector_label, '|');
    if (a->section) {
        buf[0] = (char)a->section;
        buf[1] = 0;
        w_f(w, buf, '|');
        w_f(w, section_label(a->section), '|');
    } else w_e(w, 2, '|');
    w_ch(w, '\n');
    g->stats.activity_lines++;
}

/* The PER mailbox of a professional, at the structure of the first activity. */
static void mss_per(gen *g, const gen_pro *p, const gen_act *a)
{
    const gen_prof *pf = &PROFS[p->prof];
    const gen_struct *s = &a->st;
    char fam[64], local[160], given[48], famslug[64], domain[128], addr[240], idnst[40];
    family_name(p->fam, fam, sizeof fam);
    slug_into(given, sizeof given, GIVEN[p->female][p->given]);
    slug_into(famslug, sizeof famslug, fam);
    snprintf(local, sizeof local, "%s.%s", given, famslug);
    if (s->kind == K_CH || s->kind == K_CLINIC || s->kind == K_CDS) est_domain(s, domain, sizeof domain);
    else snprintf(domain, sizeof domain, "%s." ANNUAIRE_GEN_MSS_DOMAIN, pf->slug);
    mbox_unique(g, local, domain, addr, sizeof addr);
    struct_idnst(s, idnst, sizeof idnst);
    wout *w = &g->mss;
    w_line(w);
    w_f(w, "PER", '|');
    w_f(w, addr, '|');
    w_ch(w, p->idtype);
    w_ch(w, '|');
    w_f(w, p->id, '|');
    w_ch(w, p->idtype);
    w_f(w, p->id, '|');
    w_ch(w, idnst[0]);
    w_ch(w, '|');
    w_f(w, idnst, '|');
    w_e(w, 1, '|'); /* service de rattachement */
    w_f(w, p->civex == 1 ? "DR" : p->civex == 2 ? "PR" : "", '|');
    w_f(w, fam, '|');
    w_f(w, GIVEN[p->female][p->given], '|');
    w_ch(w, (char)p->cat);
    w_ch(w, '|');
    w_f(w, p->cat == 'C' ? "Civil" : p->cat == 'M' ? "Militaire" : "Etudiant", '|');
    w_f(w, pf->code, '|');
    w_f(w, pf->label, '|');
    w_f(w, p->spec >= 0 ? SPECS[p->spec].code : "", '|');
    w_f(w, p->spec >= 0 ? SPECS[p->spec].label : "", '|');
    w_f(w, rng_chance(&g->rng, 300) ? "true" : "false", '|');
    mss_struct_tail(w, s, p);
    w_ch(w, '\n');
    g->stats.mailboxes++;
}

int annuaire_generate_streams(FILE *ps, FILE *mss, FILE *finess, uint64_t count, uint64_t seed,
                              void (*progress)(uint64_t done, void *ctx), void *ctx, annuaire_gen_stats *stats,
                              socle_err *err)
{
    if (count == 0 || count > ANNUAIRE_GEN_MAX_COUNT)
        return socle_err_set(err, SOCLE_EINVAL, "count: must be from 1 to %llu", ANNUAIRE_GEN_MAX_COUNT);
    gen *g = calloc(1, sizeof *g);
    if (!g) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    int rc = 0;
    uint64_t x = seed;
    rng_seed(&g->rng, x);
    for (int c = 0; c < NCOMMUNES; c++) {
        g->commune_total += COMMUNES[c].weight;
        int d = c;
        for (int e = 0; e < c; e++)
            if (!strcmp(COMMUNES[e].dept, COMMUNES[c].dept)) {
                d = e;
                break;
            }
        g->dept_of[c] = d;
        char a[2], b[2];
        adeli_dept(c, a);
        g->adeli_dept_of[c] = c;
        for (int e = 0; e < c; e++) {
            adeli_dept(e, b);
            if (!memcmp(a, b, 2)) {
                g->adeli_dept_of[c] = e;
                break;
            }
        }
    }
    for (int i = 0; i < NPROFS; i++) g->prof_total += PROFS[i].weight;
    for (int i = 0; i < NSPECS; i++) g->spec_total += SPECS[i].weight;
    /* Mailbox set: at most one PER per professional plus a few ORG/APP per establishment. */
    uint64_t slots = 1024;
    while (slots < 2 * (count + count / 10 + 4096)) slots <<= 1;
    g->mbox = calloc(slots, sizeof *g->mbox);
    g->mbox_mask = slots - 1;
    g->ps.f = ps;
    g->mss.f = mss;
    g->fin.f = finess;
    g->ps.buf = malloc(WBUF);
    g->mss.buf = malloc(WBUF);
    g->fin.buf = malloc(WBUF);
    if (!g->mbox || !g->ps.buf || !g->mss.buf || !g->fin.buf) {
        rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
        goto out;
    }
    w_str(&g->ps, ANNUAIRE_PS_HEADER "\n");
    w_str(&g->mss, ANNUAIRE_MSS_HEADER "\n");
    w_str(&g->fin, ANNUAIRE_FINESS_HEADER "\n");
    if (make_establishments(g, count)) {
        rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < count; i++) {
        gen_pro p;
        gen_act acts[3];
        make_pro(g, i, &p);
        uint32_t u = rng_below(&g->rng, 1000);
        int nact = u < 780 ? 1 : u < 960 ? 2 : 3;
        for (int k = 0; k < nact; k++) {
            make_activity(g, &p, k, &acts[k]);
            /* Hospital doctors are sometimes professors. */
            if (k == 0 && PROFS[p.prof].profile == PR_MED && acts[0].st.kind == K_CH && rng_chance(&g->rng, 40))
                p.civex = 2;
            ps_line(g, &p, &acts[k]);
        }
        if (rng_chance(&g->rng, 800)) mss_per(g, &p, &acts[0]);
        g->stats.professionals++;
        if (progress && ((i + 1) & 65535) == 0) progress(i + 1, ctx);
        if (g->ps.failed || g->mss.failed || g->fin.failed) break;
    }
    w_flush(&g->ps);
    w_flush(&g->mss);
    w_flush(&g->fin);
    if (g->ps.failed || g->mss.failed || g->fin.failed) {
        rc = socle_err_set(err, SOCLE_EIO, "cannot write the extracts: %s", strerror(errno));
        goto out;
    }
    if (progress) progress(count, ctx);
    if (stats) *stats = g->stats;
out:
    free(g->ps.buf);
    free(g->mss.buf);
    free(g->fin.buf);
    free(g->mbox);
    free(g->est);
    free(g);
    return rc;
}

/* Open dir/name.tmp for writing with a large buffer. */
static FILE *open_tmp(const char *dir, const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s.tmp", dir, name);
    return fopen(path, "w");
}

int annuaire_generate(const char *dir, uint64_t count, uint64_t seed, void (*progress)(uint64_t done, void *ctx),
                      void *ctx, annuaire_gen_stats *stats, socle_err *err)
{
    static const char *const names[3] = {ANNUAIRE_GEN_PS_FILE, ANNUAIRE_GEN_MSS_FILE, ANNUAIRE_GEN_FINESS_FILE};
    char tmp[3][4096], final[4096];
    FILE *f[3] = {NULL, NULL, NULL};
    int rc = 0;
    if (!dir || !*dir) return socle_err_set(err, SOCLE_EINVAL, "dir: missing");
    if (strlen(dir) > 3000) return socle_err_set(err, SOCLE_EINVAL, "dir: path too long");
    for (int i = 0; i < 3; i++) {
        f[i] = open_tmp(dir, names[i], tmp[i], sizeof tmp[i]);
        if (!f[i]) {
            rc = socle_err_set(err, SOCLE_EIO, "cannot create %s: %s", tmp[i], strerror(errno));
            break;
        }
    }
    if (!rc) rc = annuaire_generate_streams(f[0], f[1], f[2], count, seed, progress, ctx, stats, err);
    for (int i = 0; i < 3; i++) {
        if (!f[i]) continue;
        if (!rc && (fflush(f[i]) || fsync(fileno(f[i]))))
            rc = socle_err_set(err, SOCLE_EIO, "cannot write %s: %s", tmp[i], strerror(errno));
        if (fclose(f[i]) && !rc) rc = socle_err_set(err, SOCLE_EIO, "cannot write %s: %s", tmp[i], strerror(errno));
    }
    for (int i = 0; i < 3; i++) {
        if (!f[i]) continue;
        snprintf(final, sizeof final, "%s/%s", dir, names[i]);
        if (!rc && rename(tmp[i], final))
            rc = socle_err_set(err, SOCLE_EIO, "cannot rename %s: %s", tmp[i], strerror(errno));
    }
    if (rc)
        for (int i = 0; i < 3; i++)
            if (f[i]) unlink(tmp[i]);
    return rc;
}
