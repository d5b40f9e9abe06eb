/* xdm.c - IHE XDM packages (ITI TF-1 §16, ITI TF-3 §4.2.1.1) as MSSanté messages carry them: the
 * ZIP holding INDEX.HTM, README.TXT, IHE_XDM/<SUBSET>/METADATA.XML (ebRIM SubmitObjectsRequest) and the
 * CDA documents. xdm_read checks and reads a received package; xdm_build writes one for a document.
 *
 * Hostile input is expected on the reading side. The ZIP is opened from memory with libzip (read-only,
 * ZIP_CHECKCONS: the local headers must agree with the central directory). Before anything is inflated,
 * every entry is checked: not encrypted, a safe relative name (no absolute path, "..", backslash, drive
 * letter, control character; NUL bytes, which libzip shows as spaces, are looked for in the raw central
 * directory), no duplicate (ASCII case ignored, as names are looked up), and the sizes the directory
 * declares within the limits. The subset folder's files are looked up ignoring ASCII case. Only METADATA.XML
 * and the files the document entries name are then inflated (deflated entries by libdeflate into exactly
 * their declared size, then their CRC-32 checked; others in chunks counting the real bytes against the
 * limits), so a lying directory stops the read.
 * METADATA.XML is parsed by xml.h, as the DMP's CDA headers are: its own parser context,
 * no network, no entity substitution, no DTD loading, a DOCTYPE stops the parser from its SAX callback,
 * element depth counted while parsing and checked again on the tree, libxml2's messages kept off stderr. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libdeflate.h>
#include <zip.h>

#include "base/ids.h"
#include "crypto/crypto.h"
#include "svc/mss/xdm.h"
#include "xml/xml.h"

#define XDM_NS_RIM "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
#define XDM_NS_LCM "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
#define XDM_MAX_DEPTH 256
#define XDM_CHUNK 65536
#define XDM_MAX_NAME 255

#define XDM_DEFAULT_ENTRIES 64
#define XDM_DEFAULT_ENTRY_BYTES ((size_t)20 * 1024 * 1024)
#define XDM_DEFAULT_RATIO 200

#define XDM_SUBSET "SUBSET01"
#define XDM_DEFAULT_FILE "DOC0001.XML"

/* XDSDocumentEntry */
#define XDM_DOC_OBJECT_TYPE "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
#define XDM_DOC_UNIQUE_ID "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
#define XDM_DOC_PATIENT_ID "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
#define XDM_DOC_AUTHOR "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
#define XDM_DOC_CLASS "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
#define XDM_DOC_TYPE "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
#define XDM_DOC_FORMAT "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
#define XDM_DOC_CONFIDENTIALITY "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
#define XDM_DOC_FACILITY "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
#define XDM_DOC_PRACTICE "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
/* XDSSubmissionSet */
#define XDM_SS_NODE "urn:uuid:a54d6aa5-d40d-43f9-88c1-6d17d5f4d2e9"
#define XDM_SS_UNIQUE_ID "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
#define XDM_SS_SOURCE_ID "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
#define XDM_SS_PATIENT_ID "urn:uuid:6b5aea1a-625c-4a0d-a8ee-d4c3b75d4e0c"
#define XDM_HAS_MEMBER "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"


/* ======================================================================================== */
/* Reading the ZIP                                                                           */
/* ======================================================================================== */

/* One entry of the central directory, as libzip read it. */
typedef struct xdm_entry {
    const char *name; /* libzip's, valid while the archive is open */
    uint64_t size, comp;
    int dir; /* the name ends with '/' */
    int deflated;     /* compression method deflate: inflated with libdeflate */
    uint32_t crc;     /* the directory's CRC-32 of the inflated bytes */
} xdm_entry;

typedef struct xdm_reader {
    zip_t *za;
    xdm_limits lim;
    xdm_entry *entries;
    int n;
    size_t total; /* bytes inflated so far */
    arena *a;
} xdm_reader;

/* xdm_le16 - little-endian 16-bit value at p. */
static uint32_t xdm_le16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* xdm_le32 - little-endian 32-bit value at p. */
static uint32_t xdm_le32(const unsigned char *p)
{
    return xdm_le16(p) | xdm_le16(p + 2) << 16;
}

/* xdm_le64 - little-endian 64-bit value at p. */
static uint64_t xdm_le64(const unsigned char *p)
{
    return (uint64_t)xdm_le32(p) | (uint64_t)xdm_le32(p + 4) << 32;
}

/* xdm_name_matches - libzip's raw name lz is raw[0..n), where libzip shows each NUL as a space. */
static int xdm_name_matches(const char *lz, const unsigned char *raw, size_t n)
{
    if (strlen(lz) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)lz[i] != raw[i] && !(raw[i] == 0 && lz[i] == ' ')) return 0;
    return 1;
}

/* xdm_cd_walk - walk the central directory the end record at z[eocd] describes. -1 when it is not
 * the directory libzip read (unreadable, other entry count or names); otherwise the number of entries
 * whose raw name (or Info-ZIP Unicode Path, extra field 0x7075, which libzip prefers) holds a NUL. */
static int xdm_cd_walk(const unsigned char *z, size_t len, size_t eocd, zip_t *za, int n)
{
    uint64_t count = xdm_le16(z + eocd + 10), off = xdm_le32(z + eocd + 16);
    if (count == 0xFFFF || off == 0xFFFFFFFF) { /* ZIP64: locator just before the end record */
        if (eocd < 20 || xdm_le32(z + eocd - 20) != 0x07064b50) return -1;
        uint64_t z64 = xdm_le64(z + eocd - 20 + 8);
        if (z64 > len || len - z64 < 56 || xdm_le32(z + z64) != 0x06064b50) return -1;
        count = xdm_le64(z + z64 + 32);
        off = xdm_le64(z + z64 + 48);
    }
    if (count != (uint64_t)n || off > len) return -1;
    size_t pos = (size_t)off;
    int nuls = 0;
    for (int i = 0; i < n; i++) {
        if (len - pos < 46 || xdm_le32(z + pos) != 0x02014b50) return -1;
        size_t nl = xdm_le16(z + pos + 28), xl = xdm_le16(z + pos + 30), cl = xdm_le16(z + pos + 32);
        if (len - pos - 46 < nl + xl + cl) return -1;
        const unsigned char *name = z + pos + 46, *ex = name + nl, *uname = NULL;
        size_t ul = 0;
        int nul = memchr(name, 0, nl) != NULL;
        for (size_t e = 0; xl - e >= 4;) {
            size_t id = xdm_le16(ex + e), sz = xdm_le16(ex + e + 2);
            if (sz > xl - e - 4) break;
            if (id == 0x7075 && sz >= 5) { /* version, CRC-32 of the name, UTF-8 name */
                uname = ex + e + 9;
                ul = sz - 5;
                nul |= memchr(uname, 0, ul) != NULL;
            }
            e += 4 + sz;
        }
        const char *lz = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (lz == NULL) return -1;
        if (!xdm_name_matches(lz, name, nl) && (uname == NULL || !xdm_name_matches(lz, uname, ul))) return -1;
        nuls += nul;
        pos += 46 + nl + xl + cl;
    }
    return nuls;
}

/* xdm_check_raw_names - find, among the end-of-central-directory records of the last 64 KiB, the
 * directories that are the one libzip read, and refuse NUL bytes in their names. */
static int xdm_check_raw_names(const unsigned char *z, size_t len, zip_t *za, int n, socle_err *err)
{
    if (len < 22) return socle_err_set(err, SOCLE_EINVAL, "the package is not a ZIP archive");
    size_t lo = len - 22 > 65535 ? len - 22 - 65535 : 0;
    int found = 0;
    /* Candidates are found with memrchr on the signature's first byte ('P'), not byte by byte. */
    for (size_t end = len - 22 + 1; end > lo;) {
        const unsigned char *hit = memrchr(z + lo, 0x50, end - lo);
        if (!hit) break;
        size_t p = (size_t)(hit - z);
        end = p;
        if (xdm_le32(z + p) != 0x06054b50) continue;
        int nuls = xdm_cd_walk(z, len, p, za, n);
        if (nuls > 0)
            return socle_err_set(err, SOCLE_EINVAL, "a ZIP entry name holds a NUL byte, which is refused");
        if (nuls == 0) found = 1;
    }
    if (!found) return socle_err_set(err, SOCLE_EINVAL, "the ZIP central directory is inconsistent");
    return 0;
}

/* xdm_name_ok - s is a safe relative path: not empty, not absolute, no "..", backslash, drive letter
 * or control character. */
static int xdm_name_ok(const char *s)
{
    if (s[0] == '\0' || s[0] == '/' || strstr(s, "..") != NULL || strchr(s, '\\') != NULL) return 0;
    if (((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) && s[1] == ':') return 0;
    if (strlen(s) > 4 * XDM_MAX_NAME) return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

/* xdm_zip_failed - the error for a libzip failure ze while doing `what`. */
static int xdm_zip_failed(zip_error_t *ze, const char *what, socle_err *err)
{
    if (zip_error_code_zip(ze) == ZIP_ER_MEMORY)
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory while %s", what);
    return socle_err_set(err, SOCLE_EINVAL, "%s failed: %s", what, zip_error_strerror(ze));
}

/* xdm_over_ratio - bytes inflated from an entry of comp compressed bytes exceed the ratio limit. */
static int xdm_over_ratio(uint64_t bytes, uint64_t comp, int ratio)
{
    return bytes > (uint64_t)ratio * (comp > 0 ? comp : 1);
}

/* xdm_check_entries - stat every entry: count, encryption, names, duplicates, declared sizes. */
static int xdm_check_entries(xdm_reader *r, socle_err *err)
{
    zip_int64_t n = zip_get_num_entries(r->za, 0);
    if (n < 0) return socle_err_set(err, SOCLE_EINVAL, "the ZIP archive has no readable directory");
    if (n > r->lim.max_entries)
        return socle_err_set(err, SOCLE_ETOOLARGE, "the package holds more than %d entries",
                             r->lim.max_entries);
    r->n = (int)n;
    r->entries = arena_zalloc(r->a, sizeof *r->entries * (size_t)(n > 0 ? n : 1));
    if (r->entries == NULL) return socle_err_set(err, SOCLE_ENOMEM, "out of memory reading the package");
    uint64_t declared = 0;
    for (int i = 0; i < r->n; i++) {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(r->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &st) != 0)
            return xdm_zip_failed(zip_get_error(r->za), "reading the ZIP directory", err);
        const zip_uint64_t need = ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_ENCRYPTION_METHOD |
                                  ZIP_STAT_COMP_METHOD | ZIP_STAT_CRC;
        if ((st.valid & need) != need || st.name == NULL)
            return socle_err_set(err, SOCLE_EINVAL, "ZIP entry %d has an incomplete directory record", i + 1);
        if (st.encryption_method != ZIP_EM_NONE)
            return socle_err_set(err, SOCLE_EINVAL, "ZIP entry %d is encrypted, which is refused", i + 1);
        if (!xdm_name_ok(st.name))
            return socle_err_set(err, SOCLE_EINVAL,
                                 "ZIP entry %d has an unsafe name (absolute, \"..\", backslash, drive letter "
                                 "or control character)",
                                 i + 1);
        for (int j = 0; j < i; j++)
            if (strcasecmp(r->entries[j].name, st.name) == 0)
                return socle_err_set(err, SOCLE_EINVAL, "ZIP entries %d and %d have the same name", j + 1,
                                     i + 1);
        if (st.size > r->lim.max_entry_bytes)
            return socle_err_set(err, SOCLE_ETOOLARGE, "ZIP entry %d is larger than %zu bytes", i + 1,
                                 r->lim.max_entry_bytes);
        declared += st.size;
        if (declared > r->lim.max_total_bytes)
            return socle_err_set(err, SOCLE_ETOOLARGE, "the package's entries total more than %zu bytes",
                                 r->lim.max_total_bytes);
        if (xdm_over_ratio(st.size, st.comp_size, r->lim.max_ratio))
            return socle_err_set(err, SOCLE_ETOOLARGE, "ZIP entry %d is compressed more than %d to 1", i + 1,
                                 r->lim.max_ratio);
        size_t nl = strlen(st.name);
        r->entries[i] = (xdm_entry){st.name, st.size, st.comp_size, st.name[nl - 1] == '/',
                                    st.comp_method == ZIP_CM_DEFLATE, st.crc};
    }
    return 0;
}

/* xdm_read_entry - inflate entry idx into dst (room for its declared size plus a NUL), counting the
 * real bytes against the limits and the declared size; *got is the length read. */
/* xdm_inflate_entry - a deflated entry: its compressed bytes from libzip, inflated by libdeflate
 * into dst, which holds exactly the declared size (an entry inflating to more fails there, so a
 * bomb never gets more room than its directory record claimed and the limits allowed); then the
 * inflated size and CRC-32 must be the directory's. Two to three times faster than zlib. */
static int xdm_inflate_entry(xdm_reader *r, int idx, char *dst, size_t *got, socle_err *err)
{
    const xdm_entry *e = &r->entries[idx];
    size_t cap = (size_t)e->size;
    char *in = arena_alloc(r->a, (size_t)e->comp + 1);
    if (!in) return socle_err_set(err, SOCLE_ENOMEM, "out of memory reading the package");
    zip_file_t *f = zip_fopen_index(r->za, (zip_uint64_t)idx, ZIP_FL_COMPRESSED);
    if (f == NULL) return xdm_zip_failed(zip_get_error(r->za), "opening a ZIP entry", err);
    size_t pos = 0;
    int rc = 0;
    while (pos < e->comp) {
        zip_int64_t k = zip_fread(f, in + pos, (size_t)e->comp - pos);
        if (k < 0) rc = xdm_zip_failed(zip_file_get_error(f), "reading a ZIP entry", err);
        if (k <= 0) break;
        pos += (size_t)k;
    }
    zip_fclose(f);
    if (!rc && pos != e->comp)
        rc = socle_err_set(err, SOCLE_EINVAL, "ZIP entry %d is shorter than its directory record says", idx + 1);
    if (rc) return rc;
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    if (!d) return socle_err_set(err, SOCLE_ENOMEM, "out of memory reading the package");
    size_t out = 0;
    enum libdeflate_result res = libdeflate_deflate_decompress(d, in, pos, dst, cap, &out);
    libdeflate_free_decompressor(d);
    if (res == LIBDEFLATE_INSUFFICIENT_SPACE)
        return socle_err_set(err, SOCLE_EINVAL, "ZIP entry %d is larger than its directory record says", idx + 1);
    if (res != LIBDEFLATE_SUCCESS)
        return socle_err_set(err, SOCLE_EINVAL, "ZIP entry %d: invalid deflate data", idx + 1);
    if (out != cap)
        return socle_err_set(err, SOCLE_EINVAL, "ZIP entry %d is shorter than its directory record says", idx + 1);
    if (libdeflate_crc32(0, dst, out) != e->crc)
        return socle_err_set(err, SOCLE_EINVAL, "ZIP entry %d: CRC-32 mismatch", idx + 1);
    if (out > r->lim.max_total_bytes - r->total)
        return socle_err_set(err, SOCLE_ETOOLARGE, "the package inflates to more than %zu bytes", r->lim.max_total_bytes);
    dst[out] = '\0';
    r->total += out;
    *got = out;
    return 0;
}

static int xdm_read_entry(xdm_reader *r, int idx, char *dst, size_t *got, socle_err *err)
{
    const xdm_entry *e = &r->entries[idx];
    if (e->deflated) return xdm_inflate_entry(r, idx, dst, got, err);
    size_t cap = (size_t)e->size, pos = 0;
    zip_file_t *f = zip_fopen_index(r->za, (zip_uint64_t)idx, 0);
    if (f == NULL) return xdm_zip_failed(zip_get_error(r->za), "opening a ZIP entry", err);
    char scratch[64];
    int rc = 0;
    for (;;) {
        char *p = pos < cap ? dst + pos : scratch;
        size_t want = pos < cap ? (cap - pos < XDM_CHUNK ? cap - pos : XDM_CHUNK) : sizeof scratch;
        zip_int64_t k = zip_fread(f, p, want);
        if (k < 0) {
            rc = xdm_zip_failed(zip_file_get_error(f), "inflating a ZIP entry", err);
            break;
        }
        if (k == 0) break;
        size_t after = pos + (size_t)k;
        if (after > r->lim.max_entry_bytes) {
            rc = socle_err_set(err, SOCLE_ETOOLARGE, "ZIP entry %d inflates to more than %zu bytes", idx + 1,
                               r->lim.max_entry_bytes);
            break;
        }
        if (after > r->lim.max_total_bytes - r->total) {
            rc = socle_err_set(err, SOCLE_ETOOLARGE, "the package inflates to more than %zu bytes",
                               r->lim.max_total_bytes);
            break;
        }
        if (xdm_over_ratio(after, e->comp, r->lim.max_ratio)) {
            rc = socle_err_set(err, SOCLE_ETOOLARGE, "ZIP entry %d is compressed more than %d to 1", idx + 1,
                               r->lim.max_ratio);
            break;
        }
        if (after > cap) {
            rc = socle_err_set(err, SOCLE_EINVAL, "ZIP entry %d is larger than its directory record says",
                               idx + 1);
            break;
        }
        pos = after;
    }
    zip_fclose(f);
    if (rc == 0 && pos != cap)
        rc = socle_err_set(err, SOCLE_EINVAL, "ZIP entry %d is shorter than its directory record says",
                           idx + 1);
    if (rc != 0) return rc;
    dst[pos] = '\0';
    r->total += pos;
    *got = pos;
    return 0;
}

/* xdm_find - the index of the file entry named name (ASCII case-insensitive), or -1. */
static int xdm_find(const xdm_reader *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (!r->entries[i].dir && strcasecmp(r->entries[i].name, name) == 0) return i;
    return -1;
}

/* xdm_find_metadata - the first entry IHE_XDM/<subset>/METADATA.XML; its subset into *subset (arena). */
static int xdm_find_metadata(const xdm_reader *r, const char **subset)
{
    static const char prefix[] = "IHE_XDM/", leaf[] = "/METADATA.XML";
    for (int i = 0; i < r->n; i++) {
        const char *s = r->entries[i].name;
        if (strncasecmp(s, prefix, sizeof prefix - 1) != 0) continue;
        const char *sub = s + sizeof prefix - 1, *slash = strchr(sub, '/');
        if (slash == NULL || slash == sub || strcasecmp(slash, leaf) != 0) continue;
        *subset = arena_strndup(r->a, sub, (size_t)(slash - sub));
        return i;
    }
    return -1;
}

/* ======================================================================================== */
/* Parsing METADATA.XML                                                                      */
/* ======================================================================================== */

/* xdm_parse_xml - parse METADATA.XML hardened (xml.h); *doc on success (caller frees). */
static int xdm_parse_xml(const char *xml, size_t len, xmlDocPtr *doc, socle_err *err)
{
    return xml_parse(xml, len, "METADATA.XML", XDM_MAX_DEPTH, SOCLE_EINVAL, doc, err);
}


/* ---- ebRIM tree helpers ---- */

/* Strings read from the tree go to the arena; an allocation failure sets oom. */
typedef struct xdm_meta {
    arena *a;
    xmlNode *list; /* rim:RegistryObjectList */
    int oom;
} xdm_meta;

/* xdm_is - n is the element {ns}name. */
static int xdm_is(const xmlNode *n, const char *ns, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL && n->ns->href != NULL &&
           strcmp((const char *)n->ns->href, ns) == 0 && strcmp((const char *)n->name, name) == 0;
}

/* xdm_next - the first rim element `name` among n and its following siblings, or NULL. */
static xmlNode *xdm_next(xmlNode *n, const char *name)
{
    for (; n != NULL; n = n->next)
        if (xdm_is(n, XDM_NS_RIM, name)) return n;
    return NULL;
}

/* xdm_child - the first rim child element `name` of parent (may be NULL), or NULL. */
static xmlNode *xdm_child(const xmlNode *parent, const char *name)
{
    return parent != NULL ? xdm_next(parent->children, name) : NULL;
}

/* xdm_dup - s copied into the arena; "" (and oom set) when that fails. */
static const char *xdm_dup(xdm_meta *m, const char *s, size_t n)
{
    char *c = arena_strndup(m->a, s, n);
    if (c == NULL) {
        m->oom = 1;
        return "";
    }
    return c;
}

/* xdm_attr - the unqualified attribute `name` of n in the arena, "" when absent. */
static const char *xdm_attr(xdm_meta *m, const xmlNode *n, const char *name)
{
    if (n == NULL) return "";
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (v == NULL) return "";
    const char *s = xdm_dup(m, (const char *)v, strlen((const char *)v));
    xmlFree(v);
    return s;
}

/* xdm_attr_is - the attribute `name` of n equals value. */
static int xdm_attr_is(const xmlNode *n, const char *name, const char *value)
{
    if (n == NULL) return 0;
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    int eq = v != NULL && strcmp((const char *)v, value) == 0;
    xmlFree(v);
    return eq;
}

/* xdm_text - the text content of n, trimmed, in the arena; "" when n is NULL. */
static const char *xdm_text(xdm_meta *m, const xmlNode *n)
{
    if (n == NULL) return "";
    xmlChar *v = xmlNodeGetContent(n);
    if (v == NULL) return "";
    const char *s = (const char *)v, *e = s + strlen(s);
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    const char *r = xdm_dup(m, s, (size_t)(e - s));
    xmlFree(v);
    return r;
}

/* xdm_name - Name/LocalizedString @value of n, "" when absent. */
static const char *xdm_name(xdm_meta *m, const xmlNode *n)
{
    return xdm_attr(m, xdm_child(xdm_child(n, "Name"), "LocalizedString"), "value");
}

/* xdm_slot - the Slot `name` among the children of n, or NULL. */
static xmlNode *xdm_slot(const xmlNode *n, const char *name)
{
    for (xmlNode *s = xdm_child(n, "Slot"); s != NULL; s = xdm_next(s->next, "Slot"))
        if (xdm_attr_is(s, "name", name)) return s;
    return NULL;
}

/* xdm_slot_value - the first value of the Slot `name` of n, "" when absent. */
static const char *xdm_slot_value(xdm_meta *m, const xmlNode *n, const char *name)
{
    return xdm_text(m, xdm_child(xdm_child(xdm_slot(n, name), "ValueList"), "Value"));
}

/* xdm_about - n (a Classification or ExternalIdentifier) names object id in attribute attr. */
static int xdm_about(const xmlNode *n, const char *attr, const char *id)
{
    return id[0] != '\0' && xdm_attr_is(n, attr, id);
}

/* xdm_read_code - a classification's code, coding scheme and display, unless c is already set. */
static void xdm_read_code(xdm_meta *m, const xmlNode *cl, xdm_code *c)
{
    if (c->code[0] != '\0') return;
    c->code = xdm_attr(m, cl, "nodeRepresentation");
    c->scheme = xdm_slot_value(m, cl, "codingScheme");
    c->display = xdm_name(m, cl);
}

/* xdm_doc_classification - one Classification of a document entry. */
static void xdm_doc_classification(xdm_meta *m, const xmlNode *cl, xdm_document *d)
{
    static const struct {
        const char *scheme;
        size_t off;
    } codes[] = {
        {XDM_DOC_TYPE, offsetof(xdm_document, type)},
        {XDM_DOC_CLASS, offsetof(xdm_document, class_code)},
        {XDM_DOC_FORMAT, offsetof(xdm_document, format)},
        {XDM_DOC_CONFIDENTIALITY, offsetof(xdm_document, confidentiality)},
        {XDM_DOC_FACILITY, offsetof(xdm_document, facility)},
        {XDM_DOC_PRACTICE, offsetof(xdm_document, practice)},
    };
    if (xdm_attr_is(cl, "classificationScheme", XDM_DOC_AUTHOR)) {
        for (xmlNode *s = xdm_child(cl, "Slot"); s != NULL; s = xdm_next(s->next, "Slot")) {
            if (!xdm_attr_is(s, "name", "authorPerson")) continue;
            for (xmlNode *v = xdm_child(xdm_child(s, "ValueList"), "Value"); v != NULL && d->nauthors < 8;
                 v = xdm_next(v->next, "Value"))
                d->author_ids[d->nauthors++] = xdm_text(m, v);
        }
        return;
    }
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (xdm_attr_is(cl, "classificationScheme", codes[i].scheme)) {
            xdm_read_code(m, cl, (xdm_code *)((char *)d + codes[i].off));
            return;
        }
}

/* xdm_doc_identifier - one ExternalIdentifier of a document entry. */
static void xdm_doc_identifier(xdm_meta *m, const xmlNode *ei, xdm_document *d)
{
    if (d->unique_id[0] == '\0' && xdm_attr_is(ei, "identificationScheme", XDM_DOC_UNIQUE_ID))
        d->unique_id = xdm_attr(m, ei, "value");
    else if (d->patient_id[0] == '\0' && xdm_attr_is(ei, "identificationScheme", XDM_DOC_PATIENT_ID))
        d->patient_id = xdm_attr(m, ei, "value");
}

/* xdm_parse_size - a size slot: decimal digits only; -1 when malformed. */
static long long xdm_parse_size(const char *s)
{
    long long v = 0;
    if (s[0] == '\0' || strlen(s) > 18) return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* xdm_read_document - the metadata of one ExtrinsicObject; classifications and identifiers are
 * read from its children and from the list's top-level ones that name it. -1 when the size slot is
 * not a number. */
static int xdm_read_document(xdm_meta *m, const xmlNode *eo, xdm_document *d)
{
    static const xdm_code none = {"", "", ""};
    d->type = d->class_code = d->format = d->confidentiality = d->facility = d->practice = none;
    d->entry_uuid = xdm_attr(m, eo, "id");
    d->mime_type = xdm_attr(m, eo, "mimeType");
    d->title = xdm_name(m, eo);
    d->creation_time = xdm_slot_value(m, eo, "creationTime");
    d->uri = xdm_slot_value(m, eo, "URI");
    d->hash = xdm_slot_value(m, eo, "hash");
    d->unique_id = d->patient_id = "";
    const char *size = xdm_slot_value(m, eo, "size");
    d->size = size[0] != '\0' ? xdm_parse_size(size) : -1;
    for (xmlNode *c = xdm_child(eo, "Classification"); c != NULL; c = xdm_next(c->next, "Classification"))
        xdm_doc_classification(m, c, d);
    for (xmlNode *c = xdm_child(eo, "ExternalIdentifier"); c != NULL;
         c = xdm_next(c->next, "ExternalIdentifier"))
        xdm_doc_identifier(m, c, d);
    for (xmlNode *c = m->list->children; c != NULL; c = c->next) {
        if (xdm_is(c, XDM_NS_RIM, "Classification") && xdm_about(c, "classifiedObject", d->entry_uuid))
            xdm_doc_classification(m, c, d);
        else if (xdm_is(c, XDM_NS_RIM, "ExternalIdentifier") && xdm_about(c, "registryObject", d->entry_uuid))
            xdm_doc_identifier(m, c, d);
    }
    return size[0] != '\0' && d->size < 0 ? -1 : 0;
}

/* xdm_is_submission_set - rp is classified as a submission set, or carries its uniqueId. */
static int xdm_is_submission_set(xdm_meta *m, const xmlNode *rp)
{
    for (xmlNode *c = xdm_child(rp, "ExternalIdentifier"); c != NULL;
         c = xdm_next(c->next, "ExternalIdentifier"))
        if (xdm_attr_is(c, "identificationScheme", XDM_SS_UNIQUE_ID)) return 1;
    for (xmlNode *c = xdm_child(rp, "Classification"); c != NULL; c = xdm_next(c->next, "Classification"))
        if (xdm_attr_is(c, "classificationNode", XDM_SS_NODE)) return 1;
    xmlChar *id = xmlGetNoNsProp(rp, (const xmlChar *)"id");
    int yes = 0;
    for (xmlNode *c = m->list->children; id != NULL && c != NULL && !yes; c = c->next)
        yes = xdm_is(c, XDM_NS_RIM, "Classification") && xdm_attr_is(c, "classificationNode", XDM_SS_NODE) &&
              xdm_about(c, "classifiedObject", (const char *)id);
    xmlFree(id);
    return yes;
}

/* xdm_ss_identifier - one ExternalIdentifier of the submission set. */
static void xdm_ss_identifier(xdm_meta *m, const xmlNode *ei, xdm_package *p)
{
    if (p->submission_unique_id[0] == '\0' && xdm_attr_is(ei, "identificationScheme", XDM_SS_UNIQUE_ID))
        p->submission_unique_id = xdm_attr(m, ei, "value");
    else if (p->source_id[0] == '\0' && xdm_attr_is(ei, "identificationScheme", XDM_SS_SOURCE_ID))
        p->source_id = xdm_attr(m, ei, "value");
    else if (p->submission_patient_id[0] == '\0' &&
             xdm_attr_is(ei, "identificationScheme", XDM_SS_PATIENT_ID))
        p->submission_patient_id = xdm_attr(m, ei, "value");
}

/* xdm_read_submission_set - the submission set's identifiers and time into p ("" when absent). */
static void xdm_read_submission_set(xdm_meta *m, xdm_package *p)
{
    p->submission_unique_id = p->source_id = p->submission_time = p->submission_patient_id = "";
    xmlNode *rp = xdm_child(m->list, "RegistryPackage");
    while (rp != NULL && !xdm_is_submission_set(m, rp))
        rp = xdm_next(rp->next, "RegistryPackage");
    if (rp == NULL) return;
    p->submission_time = xdm_slot_value(m, rp, "submissionTime");
    for (xmlNode *c = xdm_child(rp, "ExternalIdentifier"); c != NULL;
         c = xdm_next(c->next, "ExternalIdentifier"))
        xdm_ss_identifier(m, c, p);
    const char *id = xdm_attr(m, rp, "id");
    for (xmlNode *c = xdm_child(m->list, "ExternalIdentifier"); c != NULL;
         c = xdm_next(c->next, "ExternalIdentifier"))
        if (xdm_about(c, "registryObject", id)) xdm_ss_identifier(m, c, p);
}

/* xdm_read_metadata - the package's submission set and document entries from the parsed metadata. */
static int xdm_read_metadata(xdm_reader *r, xmlDoc *doc, xdm_package *p, socle_err *err)
{
    xdm_meta m = {r->a, NULL, 0};
    xmlNode *root = xmlDocGetRootElement(doc);
    if (xdm_is(root, XDM_NS_LCM, "SubmitObjectsRequest"))
        m.list = xdm_child(root, "RegistryObjectList");
    else if (xdm_is(root, XDM_NS_RIM, "RegistryObjectList"))
        m.list = root;
    if (m.list == NULL)
        return socle_err_set(err, SOCLE_EINVAL,
                             "METADATA.XML is not an ebRIM SubmitObjectsRequest with a "
                             "RegistryObjectList");
    int n = 0;
    for (xmlNode *e = xdm_child(m.list, "ExtrinsicObject"); e != NULL;
         e = xdm_next(e->next, "ExtrinsicObject"))
        n++;
    if (n == 0)
        return socle_err_set(err, SOCLE_EINVAL, "METADATA.XML has no document entry (ExtrinsicObject)");
    if (n > r->lim.max_entries)
        return socle_err_set(err, SOCLE_ETOOLARGE, "METADATA.XML has more than %d document entries",
                             r->lim.max_entries);
    p->documents = arena_zalloc(r->a, sizeof *p->documents * (size_t)n);
    if (p->documents == NULL) return socle_err_set(err, SOCLE_ENOMEM, "out of memory reading METADATA.XML");
    p->ndocuments = n;
    int i = 0;
    for (xmlNode *e = xdm_child(m.list, "ExtrinsicObject"); e != NULL;
         e = xdm_next(e->next, "ExtrinsicObject")) {
        if (xdm_read_document(&m, e, &p->documents[i]) != 0 && !m.oom)
            return socle_err_set(err, SOCLE_EINVAL, "the size slot of document entry %d is not a number",
                                 i + 1);
        i++;
    }
    xdm_read_submission_set(&m, p);
    if (m.oom) return socle_err_set(err, SOCLE_ENOMEM, "out of memory reading METADATA.XML");
    return 0;
}

/* ---- documents ---- */

/* xdm_load_document - find, read and check the file of document entry i (1-based in messages). */
static int xdm_load_document(xdm_reader *r, const char *subset, xdm_document *d, int i, socle_err *err)
{
    if (d->uri[0] == '\0')
        return socle_err_set(err, SOCLE_EINVAL, "document entry %d of METADATA.XML has no URI slot", i);
    if (!xdm_name_ok(d->uri))
        return socle_err_set(err, SOCLE_EINVAL, "document entry %d of METADATA.XML has an unsafe URI", i);
    char *path = arena_printf(r->a, "IHE_XDM/%s/%s", subset, d->uri);
    if (path == NULL) return socle_err_set(err, SOCLE_ENOMEM, "out of memory reading the package");
    int idx = xdm_find(r, path);
    if (idx < 0 && strncasecmp(d->uri, "IHE_XDM/", 8) == 0) idx = xdm_find(r, d->uri);
    if (idx < 0)
        return socle_err_set(err, SOCLE_EINVAL, "the file of document entry %d is missing from the package",
                             i);
    char *data = arena_alloc(r->a, (size_t)r->entries[idx].size + 1);
    if (data == NULL) return socle_err_set(err, SOCLE_ENOMEM, "out of memory reading the package");
    size_t got = 0;
    int rc = xdm_read_entry(r, idx, data, &got, err);
    if (rc != 0) return rc;
    d->data = data;
    d->data_len = got;
    if (d->size >= 0 && (unsigned long long)d->size != (unsigned long long)got)
        return socle_err_set(err, SOCLE_EINVAL,
                             "the file of document entry %d does not have the size METADATA.XML gives", i);
    if (d->hash[0] != '\0') {
        uint8_t sum[20];
        char hex[41];
        crypto_sha1(data, got, sum);
        crypto_hex(sum, sizeof sum, hex);
        if (strlen(d->hash) != 40 || strcasecmp(d->hash, hex) != 0)
            return socle_err_set(
                err, SOCLE_EINVAL,
                "the file of document entry %d does not have the SHA-1 hash METADATA.XML gives", i);
    }
    return 0;
}

/* xdm_read_package - everything after the archive is open. */
static int xdm_read_package(xdm_reader *r, const void *zip, size_t len, xdm_package *p, socle_err *err)
{
    int rc = xdm_check_entries(r, err);
    if (rc == 0) rc = xdm_check_raw_names(zip, len, r->za, r->n, err);
    if (rc != 0) return rc;
    int mi = xdm_find_metadata(r, &p->subset);
    if (mi < 0) return socle_err_set(err, SOCLE_EINVAL, "the package has no IHE_XDM/<subset>/METADATA.XML");
    if (p->subset == NULL) return socle_err_set(err, SOCLE_ENOMEM, "out of memory reading the package");
    char *xml = arena_alloc(r->a, (size_t)r->entries[mi].size + 1);
    if (xml == NULL) return socle_err_set(err, SOCLE_ENOMEM, "out of memory reading the package");
    size_t xml_len = 0;
    rc = xdm_read_entry(r, mi, xml, &xml_len, err);
    if (rc != 0) return rc;
    xmlDocPtr doc = NULL;
    rc = xdm_parse_xml(xml, xml_len, &doc, err);
    if (rc != 0) return rc;
    rc = xdm_read_metadata(r, doc, p, err);
    xmlFreeDoc(doc);
    if (rc != 0) return rc;
    for (int i = 0; i < p->ndocuments; i++) {
        xdm_document *d = &p->documents[i];
        rc = xdm_load_document(r, p->subset, d, i + 1, err);
        if (rc != 0) return rc;
    }
    return 0;
}

int xdm_read(const void *zip, size_t len, const xdm_limits *lim, arena *a, xdm_package **out, socle_err *err)
{
    if (out != NULL) *out = NULL;
    if (out == NULL || a == NULL || (zip == NULL && len > 0))
        return socle_err_set(err, SOCLE_EINVAL, "xdm_read: no input, arena or output");
    if (len == 0) return socle_err_set(err, SOCLE_EINVAL, "the package is empty (not a ZIP archive)");
    xdm_reader r = {.a = a};
    r.lim = lim != NULL ? *lim : (xdm_limits){0};
    if (r.lim.max_entries <= 0) r.lim.max_entries = XDM_DEFAULT_ENTRIES;
    if (r.lim.max_entry_bytes == 0) r.lim.max_entry_bytes = XDM_DEFAULT_ENTRY_BYTES;
    if (r.lim.max_total_bytes == 0) r.lim.max_total_bytes = XDM_DEFAULT_TOTAL_BYTES;
    if (r.lim.max_ratio <= 0) r.lim.max_ratio = XDM_DEFAULT_RATIO;

    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(zip, len, 0, &ze);
    if (src == NULL) {
        zip_error_fini(&ze);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory opening the package");
    }
    r.za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (r.za == NULL) {
        zip_source_free(src);
        int rc = zip_error_code_zip(&ze) == ZIP_ER_MEMORY
                     ? socle_err_set(err, SOCLE_ENOMEM, "out of memory opening the package")
                     : socle_err_set(err, SOCLE_EINVAL, "the package is not a readable ZIP archive (%s)",
                                     zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    zip_error_fini(&ze);

    xdm_package *p = arena_zalloc(a, sizeof *p);
    int rc = p != NULL ? xdm_read_package(&r, zip, len, p, err)
                       : socle_err_set(err, SOCLE_ENOMEM, "out of memory reading the package");
    zip_discard(r.za);
    if (rc == 0) p->unpacked = r.total;
    if (rc == 0) *out = p;
    return rc;
}

/* ======================================================================================== */
/* Building                                                                                  */
/* ======================================================================================== */

/* xdm_esc - append s escaped for XML/HTML text and attribute values. */
static void xdm_esc(socle_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\'':
            buf_puts(b, "&apos;");
            break;
        case '\t':
            buf_puts(b, "&#9;");
            break;
        case '\n':
            buf_puts(b, "&#10;");
            break;
        case '\r':
            buf_puts(b, "&#13;");
            break;
        default:
            buf_putc(b, *s);
        }
    }
}

/* xdm_text_ok - s is valid UTF-8 holding only characters XML 1.0 allows. */
static int xdm_text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        uint32_t c = *p;
        int n;
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return 0;
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            c &= 0x07;
        } else {
            return 0;
        }
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            c = c << 6 | (p[i] & 0x3F);
        }
        static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
        if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF) || c == 0xFFFE || c == 0xFFFF)
            return 0;
        p += n + 1;
    }
    return 1;
}

/* xdm_put_slot - a rim:Slot with one value. */
static void xdm_put_slot(socle_buf *b, const char *name, const char *value)
{
    buf_puts(b, "      <rim:Slot name=\"");
    xdm_esc(b, name);
    buf_puts(b, "\"><rim:ValueList><rim:Value>");
    xdm_esc(b, value);
    buf_puts(b, "</rim:Value></rim:ValueList></rim:Slot>\n");
}

/* xdm_put_name - a rim:Name with one LocalizedString. */
static void xdm_put_name(socle_buf *b, const char *value)
{
    buf_puts(b, "      <rim:Name><rim:LocalizedString charset=\"UTF-8\" value=\"");
    xdm_esc(b, value);
    buf_puts(b, "\"/></rim:Name>\n");
}

/* xdm_put_code - the Classification of scheme for object, when c has a code. */
static void xdm_put_code(socle_buf *b, const char *scheme, const char *object, const xdm_code *c)
{
    if (c->code == NULL || c->code[0] == '\0') return;
    char id[37];
    buf_printf(b,
               "    <rim:Classification id=\"urn:uuid:%s\" classificationScheme=\"%s\" classifiedObject=\"",
               id_uuid(id), scheme);
    xdm_esc(b, object);
    buf_puts(b, "\" nodeRepresentation=\"");
    xdm_esc(b, c->code);
    buf_puts(b, "\">\n");
    if (c->scheme != NULL && c->scheme[0] != '\0') xdm_put_slot(b, "codingScheme", c->scheme);
    if (c->display != NULL && c->display[0] != '\0') xdm_put_name(b, c->display);
    buf_puts(b, "    </rim:Classification>\n");
}

/* xdm_put_identifier - an ExternalIdentifier of scheme for object, named label. */
static void xdm_put_identifier(socle_buf *b, const char *scheme, const char *object, const char *value,
                               const char *label)
{
    char id[37];
    buf_printf(b,
               "    <rim:ExternalIdentifier id=\"urn:uuid:%s\" identificationScheme=\"%s\" registryObject=\"",
               id_uuid(id), scheme);
    xdm_esc(b, object);
    buf_puts(b, "\" value=\"");
    xdm_esc(b, value);
    buf_puts(b, "\">\n");
    xdm_put_name(b, label);
    buf_puts(b, "    </rim:ExternalIdentifier>\n");
}

/* xdm_write_metadata - METADATA.XML: the submission set, the document entry, their association. */
static void xdm_write_metadata(socle_buf *b, const xdm_build_input *in, const char *file, const char *mime,
                               const char *hash)
{
    char u[37], doc[46], ss[46];
    snprintf(doc, sizeof doc, "urn:uuid:%s", id_uuid(u));
    snprintf(ss, sizeof ss, "urn:uuid:%s", id_uuid(u));
    buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<lcm:SubmitObjectsRequest xmlns:lcm=\"" XDM_NS_LCM "\" xmlns:rim=\"" XDM_NS_RIM "\">\n"
                "  <rim:RegistryObjectList>\n");

    /* the document entry */
    buf_printf(b, "    <rim:ExtrinsicObject id=\"%s\" objectType=\"" XDM_DOC_OBJECT_TYPE "\" mimeType=\"",
               doc);
    xdm_esc(b, mime);
    buf_puts(b, "\">\n");
    xdm_put_slot(b, "creationTime", in->creation_time);
    xdm_put_slot(b, "hash", hash);
    xdm_put_slot(b, "languageCode", "fr-FR");
    char size[24];
    snprintf(size, sizeof size, "%zu", in->document_len);
    xdm_put_slot(b, "size", size);
    xdm_put_slot(b, "sourcePatientId", in->patient_id);
    xdm_put_slot(b, "URI", file);
    if (in->title != NULL && in->title[0] != '\0') xdm_put_name(b, in->title);
    if (in->author_id != NULL && in->author_id[0] != '\0') {
        char id[37];
        buf_printf(b,
                   "    <rim:Classification id=\"urn:uuid:%s\" classificationScheme=\"" XDM_DOC_AUTHOR
                   "\" classifiedObject=\"%s\" nodeRepresentation=\"\">\n",
                   id_uuid(id), doc);
        xdm_put_slot(b, "authorPerson", in->author_id);
        buf_puts(b, "    </rim:Classification>\n");
    }
    xdm_put_code(b, XDM_DOC_CLASS, doc, &in->class_code);
    xdm_put_code(b, XDM_DOC_CONFIDENTIALITY, doc, &in->confidentiality);
    xdm_put_code(b, XDM_DOC_FORMAT, doc, &in->format);
    xdm_put_code(b, XDM_DOC_FACILITY, doc, &in->facility);
    xdm_put_code(b, XDM_DOC_PRACTICE, doc, &in->practice);
    xdm_put_code(b, XDM_DOC_TYPE, doc, &in->type);
    xdm_put_identifier(b, XDM_DOC_PATIENT_ID, doc, in->patient_id, "XDSDocumentEntry.patientId");
    xdm_put_identifier(b, XDM_DOC_UNIQUE_ID, doc, in->unique_id, "XDSDocumentEntry.uniqueId");
    buf_puts(b, "    </rim:ExtrinsicObject>\n");

    /* the submission set */
    buf_printf(b, "    <rim:RegistryPackage id=\"%s\">\n", ss);
    xdm_put_slot(b, "submissionTime", in->submission_time);
    xdm_put_identifier(b, XDM_SS_UNIQUE_ID, ss, in->submission_unique_id, "XDSSubmissionSet.uniqueId");
    xdm_put_identifier(b, XDM_SS_SOURCE_ID, ss, in->source_id, "XDSSubmissionSet.sourceId");
    xdm_put_identifier(b, XDM_SS_PATIENT_ID, ss, in->patient_id, "XDSSubmissionSet.patientId");
    buf_puts(b, "    </rim:RegistryPackage>\n");
    buf_printf(
        b,
        "    <rim:Classification id=\"urn:uuid:%s\" classifiedObject=\"%s\" classificationNode=\"" XDM_SS_NODE
        "\"/>\n",
        id_uuid(u), ss);
    buf_printf(b,
               "    <rim:Association id=\"urn:uuid:%s\" associationType=\"" XDM_HAS_MEMBER
               "\" sourceObject=\"%s\" targetObject=\"%s\">\n",
               id_uuid(u), ss, doc);
    xdm_put_slot(b, "SubmissionSetStatus", "Original");
    buf_puts(b, "    </rim:Association>\n"
                "  </rim:RegistryObjectList>\n"
                "</lcm:SubmitObjectsRequest>\n");
}

/* xdm_write_index - INDEX.HTM: a short page listing the document and the README. */
static void xdm_write_index(socle_buf *b, const xdm_build_input *in, const char *file)
{
    buf_puts(
        b, "<!DOCTYPE html>\n<html lang=\"fr\">\n<head><meta charset=\"UTF-8\"><title>Paquet IHE XDM</title>"
           "</head>\n<body>\n<h1>Paquet IHE XDM</h1>\n<p>Lot de soumission ");
    xdm_esc(b, in->submission_unique_id);
    buf_puts(b, " (" XDM_SUBSET ")</p>\n<ul>\n<li><a href=\"IHE_XDM/" XDM_SUBSET "/");
    xdm_esc(b, file);
    buf_puts(b, "\">");
    xdm_esc(b, in->title != NULL && in->title[0] != '\0' ? in->title : file);
    buf_puts(b, "</a> (");
    xdm_esc(b, file);
    buf_puts(b, ")</li>\n<li><a href=\"IHE_XDM/" XDM_SUBSET "/METADATA.XML\">METADATA.XML</a></li>\n"
                "</ul>\n<p><a href=\"README.TXT\">README.TXT</a></p>\n</body>\n</html>\n");
}

/* xdm_write_readme - README.TXT: who made the package and what it holds. */
static void xdm_write_readme(socle_buf *b, const char *file)
{
    buf_printf(b,
               "Paquet IHE XDM (IHE ITI TF-1 section 16, Cross-Enterprise Document Media Interchange)\r\n"
               "\r\n"
               "Logiciel emetteur : socle (socle de services de sante numerique)\r\n"
               "Editeur : socle\r\n"
               "\r\n"
               "Contenu :\r\n"
               "  INDEX.HTM                      page d'accueil\r\n"
               "  README.TXT                     ce fichier\r\n"
               "  IHE_XDM/" XDM_SUBSET "/METADATA.XML  metadonnees (ebRIM SubmitObjectsRequest)\r\n"
               "  IHE_XDM/" XDM_SUBSET "/%s  document\r\n",
               file);
}

typedef struct xdm_file {
    const char *name;
    const void *data;
    size_t len;
} xdm_file;

/* xdm_zip_build_failed - clean up after a libzip failure while building and report it. */
static int xdm_zip_build_failed(zip_t *za, zip_source_t *src, socle_err *err)
{
    int mem = za != NULL && zip_error_code_zip(zip_get_error(za)) == ZIP_ER_MEMORY;
    if (za != NULL) zip_discard(za);
    zip_source_free(src);
    if (mem) return socle_err_set(err, SOCLE_ENOMEM, "out of memory building the XDM package");
    return socle_err_set(err, SOCLE_EINTERNAL, "libzip could not build the XDM package");
}

/* xdm_zip - write files into a ZIP in memory (deflated) and append it to out. */
static int xdm_zip(const xdm_file *files, int n, socle_buf *out, socle_err *err)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    if (src == NULL) {
        zip_error_fini(&ze);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory building the XDM package");
    }
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    zip_error_fini(&ze);
    if (za == NULL) return xdm_zip_build_failed(NULL, src, err);
    zip_source_keep(src);
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(za, files[i].data, files[i].len, 0);
        if (s == NULL) return xdm_zip_build_failed(za, src, err);
        zip_int64_t idx = zip_file_add(za, files[i].name, s, ZIP_FL_ENC_UTF_8);
        if (idx < 0) {
            zip_source_free(s);
            return xdm_zip_build_failed(za, src, err);
        }
        if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 9) != 0)
            return xdm_zip_build_failed(za, src, err);
    }
    if (zip_close(za) != 0) return xdm_zip_build_failed(za, src, err);

    size_t old = out->len;
    int rc = 0;
    if (zip_source_open(src) != 0) {
        zip_source_free(src);
        return socle_err_set(err, SOCLE_EINTERNAL, "libzip could not read back the XDM package");
    }
    char chunk[16384];
    for (;;) {
        zip_int64_t k = zip_source_read(src, chunk, sizeof chunk);
        if (k < 0) {
            rc = socle_err_set(err, SOCLE_EINTERNAL, "libzip could not read back the XDM package");
            break;
        }
        if (k == 0) break;
        buf_append(out, chunk, (size_t)k);
    }
    zip_source_close(src);
    zip_source_free(src);
    if (rc == 0 && !buf_ok(out))
        rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory building the XDM package");
    if (rc != 0 && out->data != NULL && out->len >= old) {
        out->len = old;
        out->data[old] = '\0';
    }
    return rc;
}

/* xdm_required - s is a non-empty string. */
static int xdm_required(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* xdm_check_input - the required inputs are there and every text is valid for XML. */
static int xdm_check_input(const xdm_build_input *in, const char *file, const char *mime, socle_err *err)
{
    static const char msg[] = "xdm_build: %s is required";
    if (in->document == NULL || in->document_len == 0)
        return socle_err_at(err, SOCLE_EINVAL, "document", msg, "the document");
    const struct {
        const char *name, *value;
    } req[] = {
        {"unique_id", in->unique_id},
        {"patient_id", in->patient_id},
        {"creation_time", in->creation_time},
        {"type.code", in->type.code},
        {"source_id", in->source_id},
        {"submission_unique_id", in->submission_unique_id},
        {"submission_time", in->submission_time},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if (!xdm_required(req[i].value))
            return socle_err_at(err, SOCLE_EINVAL, req[i].name, msg, req[i].name);
    const xdm_code *codes[] = {&in->type,     &in->class_code, &in->format, &in->confidentiality,
                               &in->facility, &in->practice};
    const char *texts[] = {file, mime, in->title, in->author_id};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if (!xdm_text_ok(req[i].value))
            return socle_err_at(err, SOCLE_EINVAL, req[i].name,
                                "xdm_build: %s is not valid UTF-8 text for XML", req[i].name);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (texts[i] != NULL && !xdm_text_ok(texts[i]))
            return socle_err_set(err, SOCLE_EINVAL,
                                 "xdm_build: a text input is not valid UTF-8 text for XML");
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if ((codes[i]->code != NULL && !xdm_text_ok(codes[i]->code)) ||
            (codes[i]->scheme != NULL && !xdm_text_ok(codes[i]->scheme)) ||
            (codes[i]->display != NULL && !xdm_text_ok(codes[i]->display)))
            return socle_err_set(err, SOCLE_EINVAL, "xdm_build: a code is not valid UTF-8 text for XML");
    if (!xdm_name_ok(file) || strchr(file, '/') != NULL || strlen(file) > XDM_MAX_NAME ||
        strcasecmp(file, "METADATA.XML") == 0)
        return socle_err_at(err, SOCLE_EINVAL, "file_name",
                            "xdm_build: the file name must be a plain name other than METADATA.XML");
    return 0;
}

int xdm_build(const xdm_build_input *in, socle_buf *out, socle_err *err)
{
    if (in == NULL || out == NULL) return socle_err_set(err, SOCLE_EINVAL, "xdm_build: no input or output");
    const char *file = in->file_name != NULL ? in->file_name : XDM_DEFAULT_FILE;
    const char *mime = in->mime_type != NULL && in->mime_type[0] != '\0' ? in->mime_type : "text/xml";
    int rc = xdm_check_input(in, file, mime, err);
    if (rc != 0) return rc;

    uint8_t sum[20];
    char hash[41];
    crypto_sha1(in->document, in->document_len, sum);
    crypto_hex(sum, sizeof sum, hash);

    socle_buf meta = SOCLE_BUF_INIT, index = SOCLE_BUF_INIT, readme = SOCLE_BUF_INIT;
    xdm_write_metadata(&meta, in, file, mime, hash);
    xdm_write_index(&index, in, file);
    xdm_write_readme(&readme, file);
    char path[sizeof "IHE_XDM/" XDM_SUBSET "/" + XDM_MAX_NAME];
    snprintf(path, sizeof path, "IHE_XDM/" XDM_SUBSET "/%s", file);
    if (!buf_ok(&meta) || !buf_ok(&index) || !buf_ok(&readme)) {
        rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory building the XDM package");
    } else {
        const xdm_file files[] = {
            {"INDEX.HTM", index.data, index.len},
            {"README.TXT", readme.data, readme.len},
            {"IHE_XDM/" XDM_SUBSET "/METADATA.XML", meta.data, meta.len},
            {path, in->document, in->document_len},
        };
        rc = xdm_zip(files, (int)(sizeof files / sizeof files[0]), out, err);
    }
    buf_free(&meta);
    buf_free(&index);
    buf_free(&readme);
    return rc;
}
