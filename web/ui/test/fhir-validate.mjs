// Validates FHIR R4 resources against the R4 StructureDefinitions with the `fhir` package's
// validator (cardinality, including the required primitive elements a JSON schema cannot
// require, types, and codes of required bindings). Driven by internal/testenv.FHIRValid.
//
// Reads one resource per line (NDJSON) on standard input and prints, for each, one JSON line:
//   {"errors":[{"location":"AuditEvent.recorded","message":"Missing property"}, ...]}
// Only issues of severity error and fatal are printed: warnings and information (codes not
// found in extensible or preferred value sets the package does not carry) are not invalidity.
import { createInterface } from 'node:readline';
import fhirPackage from 'fhir';

const { Fhir } = fhirPackage;
const fhir = new Fhir(); // the R4 (4.0.1) definitions the package ships

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim() === '') continue;
  let errors;
  try {
    const result = fhir.validate(JSON.parse(line));
    errors = result.messages
      .filter((m) => m.severity === 'error' || m.severity === 'fatal')
      .map((m) => ({ location: m.location, message: m.message }));
  } catch (err) {
    errors = [{ location: '', message: `validator failed: ${err.message}` }];
  }
  process.stdout.write(JSON.stringify({ errors }) + '\n');
}
